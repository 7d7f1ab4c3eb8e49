using AgentTrainer.Agents.Supervision;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Summaries;
using Microsoft.Extensions.Time.Testing;
using static AgentTrainer.Agents.Tests.Shipped;

namespace AgentTrainer.Agents.Tests;

public sealed class InterventionDispatcherTests : IDisposable
{
    private static readonly CheckpointSummary[] Checkpoints =
        [new("ckpt-000000-b0", 0, 0, 2.5, 2.5), new("ckpt-000200-b0", 200, 0, 2.0, 2.0), new("ckpt-000400-b0", 400, 0, 1.9, 1.9)];

    private readonly FakeTimeProvider _time = new();
    private readonly CommandQueue _commands;
    private readonly PolicyGate _gate = new(Policy("research"));
    private readonly EffectTracker _effects = new(window: 10);
    private readonly InterventionDispatcher _dispatcher;
    private readonly List<CommandRecord> _submitted = [];

    public InterventionDispatcherTests()
    {
        _commands = new CommandQueue(_time);
        _commands.StatusChanged += (record, change) =>
        {
            if (change.Status == CommandStatus.Pending)
            {
                _submitted.Add(record);
            }
        };
        _dispatcher = new InterventionDispatcher(_gate, _commands, _effects);
    }

    /// <summary>The run applies a command at <paramref name="step"/>, with this outcome, and says so.</summary>
    private void Ended(CommandRecord record, long step, CommandStatus status, long trained) =>
        _dispatcher.Ended(new CommandEvent
        {
            Time = _time.GetUtcNow(), Step = step, Branch = 0, Id = record.Id, Kind = record.Command.Kind,
            Source = record.Source, Arguments = record.Command, Status = status,
        }, trained, Checkpoints);

    [Fact]
    public void What_the_run_applied_is_remembered_by_the_gate_and_measured_what_failed_is_not()
    {
        string? id = _dispatcher.Apply(Proposal("p1", InterventionAction.HalveLearningRate, 300), Checkpoints);
        CommandRecord halve = Assert.Single(_submitted);
        Assert.Equal(id, halve.Id);
        Assert.Empty(_effects.Interventions()); // queued is not applied
        Assert.Null(_dispatcher.LastAppliedTrained);

        Ended(halve, step: 301, CommandStatus.Succeeded, trained: 301);
        Assert.Equal(301, _dispatcher.LastAppliedTrained);
        Assert.Equal(0.5, _gate.LearningRateFactorAfter(300));
        Assert.Equal(301, Assert.Single(_effects.Interventions()).Step);

        string rollback = _dispatcher.Apply(Proposal("p2", InterventionAction.RollbackCheckpoint, 320, "ckpt-000200-b0"), Checkpoints)!;
        int rollbacksLeft = Limits().RollbacksLeft;
        Ended(_submitted.Single(r => r.Id == rollback), step: 321, CommandStatus.Failed, trained: 321);
        Assert.Equal(rollbacksLeft, Limits().RollbacksLeft); // a failed rollback spends nothing
        Assert.Single(_effects.Interventions());
    }

    [Fact]
    public void A_rollback_applies_again_the_lr_changes_made_after_its_checkpoint_and_only_those()
    {
        _dispatcher.Apply(Proposal("p1", InterventionAction.HalveLearningRate, 300), Checkpoints);
        Ended(_submitted[^1], step: 301, CommandStatus.Succeeded, trained: 301);

        _dispatcher.Apply(Proposal("p2", InterventionAction.RollbackCheckpoint, 450, "ckpt-000400-b0"), Checkpoints);
        Assert.IsType<LoadCheckpointCommand>(_submitted[^1].Command); // the halving is in that checkpoint already

        _dispatcher.Apply(Proposal("p3", InterventionAction.RollbackCheckpoint, 450, "ckpt-000200-b0"), Checkpoints);
        Assert.Equal(0.5, Assert.IsType<UpdateOptimizerCommand>(_submitted[^1].Command).LearningRateFactor);
        Assert.IsType<LoadCheckpointCommand>(_submitted[^2].Command);
    }

    [Fact]
    public void Keeping_the_lr_queues_nothing_and_a_start_over_is_counted_as_one()
    {
        Assert.Null(_dispatcher.Apply(Proposal("p1", InterventionAction.KeepLearningRate, 300), Checkpoints));
        Assert.Empty(_submitted);

        _dispatcher.Apply(Proposal("p2", InterventionAction.RollbackCheckpoint, 300, "ckpt-000000-b0"), Checkpoints);
        int startOversLeft = Limits().StartOversLeft;
        Ended(_submitted[^1], step: 0, CommandStatus.Succeeded, trained: 301);
        Assert.Equal(startOversLeft - 1, Limits().StartOversLeft);
    }

    private PolicyLimits Limits() => _gate.Limits(new GateState(
        300, 0, 300, 1e-3, 1e-3, Checkpoints, [], 1.9, 1.9, false, 10_000));

    public void Dispose() => _commands.Dispose();
}
