using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Summaries;

namespace AgentTrainer.Agents.Supervision;

/// <summary>Turns what the gate let through into commands, and what the run applied into the gate's memory
/// (lr changes, rollbacks, the last intervention) and the effects to measure. The lr history lives in the
/// gate alone: a rollback applies again the lr changes made after its checkpoint.</summary>
public sealed class InterventionDispatcher(PolicyGate gate, CommandQueue commands, EffectTracker effects)
{
    private readonly Dictionary<string, Proposal> _dispatched = new(StringComparer.Ordinal);
    private CommandRecord? _guardCommand;

    /// <summary>Steps trained in all when an intervention was last applied; null before the first.</summary>
    public long? LastAppliedTrained { get; private set; }

    /// <summary>A guard's command is queued or running: a second would act on the same trouble.</summary>
    public bool GuardBusy => _guardCommand is { IsFinished: false };

    /// <summary>Queues an applied proposal as a command. A rollback undoes what happened to the run, not what
    /// was decided about it: lr changes applied after the checkpoint's step are applied again right after the
    /// restore, in the same step boundary (a fault's lr spike is not a decision, so it stays undone).</summary>
    /// <returns>the command's id; null when the proposal changes nothing</returns>
    public string? Apply(Proposal proposal, IReadOnlyList<CheckpointSummary> checkpoints)
    {
        if (proposal.ToCommand(gate.Policy) is not { } command)
        {
            return null;
        }
        string id = Submit(proposal, command, proposal.Source);
        if (proposal.Action == InterventionAction.RollbackCheckpoint
            && checkpoints.FirstOrDefault(c => c.Id == proposal.CheckpointId) is { } target
            && gate.LearningRateFactorAfter(target.Step) is var factor && factor != 1.0)
        {
            commands.Submit(UpdateOptimizerCommand.ScaleLearningRate(factor), proposal.Source); // audited like any
        }
        return id;
    }

    /// <summary>Pauses the run while a person answers (approval.hold_run), or lets it go on.</summary>
    public void Hold(bool paused) =>
        commands.Submit(paused ? new PauseCommand() : new ResumeCommand(), CommandSource.Agent);

    /// <summary>Queues a proposal's command, its id known before the run can apply it.</summary>
    public string Submit(Proposal proposal, TrainerCommand command, CommandSource source, string? key = null,
        Action<CommandRecord>? created = null)
    {
        CommandRecord record = commands.Submit(command, source, submitted =>
        {
            _dispatched[submitted.Id] = proposal;
            created?.Invoke(submitted);
        }, key);
        if (source == CommandSource.Guard)
        {
            _guardCommand = record;
        }
        return record.Id;
    }

    /// <summary>A command has ended. One of ours that succeeded is remembered by the gate and its effect
    /// measured from now.</summary>
    /// <param name="trained">steps trained in all by now</param>
    /// <param name="checkpoints">the run's checkpoints (a rollback to step 0 is a start over)</param>
    public void Ended(CommandEvent command, long trained, IReadOnlyList<CheckpointSummary> checkpoints)
    {
        if (!command.Status.IsFinal() || !_dispatched.Remove(command.Id, out Proposal? proposal)
            || command.Status != CommandStatus.Succeeded)
        {
            return;
        }
        bool startOver = proposal.Action == InterventionAction.RollbackCheckpoint
            && checkpoints.FirstOrDefault(c => c.Id == proposal.CheckpointId) is { } target
            && PolicyGate.IsStartOver(target);
        gate.RecordApplied(proposal, trained, command.Step, startOver);
        LastAppliedTrained = trained;
        effects.Started(proposal, command.Step);
    }
}
