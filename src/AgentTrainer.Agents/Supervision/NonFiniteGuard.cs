using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Runs;
using AgentTrainer.Core.Summaries;

namespace AgentTrainer.Agents.Supervision;

/// <summary>The policy's answer to a NaN/Inf loss, with no model at all: roll back to the latest checkpoint
/// with a finite validation loss, or halve the lr, or nothing.</summary>
public sealed class NonFiniteGuard(Policy policy)
{
    /// <returns>the guard's proposal, or null when the policy's guard does nothing here</returns>
    public Proposal? Propose(StepMetrics metrics, RunState state, IReadOnlyList<CheckpointSummary> checkpoints) =>
        policy.NonFiniteGuard switch
        {
            GuardActions.Rollback when LastGood(state, checkpoints) is { } checkpoint => Proposal(state,
                InterventionAction.RollbackCheckpoint,
                $"non-finite loss at step {metrics.Step}: rolling back to {checkpoint.Id}, the latest checkpoint "
                + "with a finite validation loss.", checkpoint.Id),
            GuardActions.Halve => Proposal(state, InterventionAction.HalveLearningRate,
                $"non-finite loss at step {metrics.Step}: halving the lr.", null),
            _ => null,
        };

    private static CheckpointSummary? LastGood(RunState state, IReadOnlyList<CheckpointSummary> checkpoints) =>
        checkpoints.Where(c => c.Step < state.Step && c.ValLoss is { } v && double.IsFinite(v))
            .MaxBy(c => (c.Step, c.Branch == state.Branch))
        ?? checkpoints.Where(c => c.Step < state.Step).MaxBy(c => c.Step);

    private static Proposal Proposal(
        RunState state, InterventionAction action, string reason, string? checkpointId) => new()
    {
        Id = $"guard-{state.Branch}-{state.Step}",
        Action = action,
        Reason = reason,
        Source = CommandSource.Guard,
        BasedOnStep = state.Step,
        BasedOnBranch = state.Branch,
        CheckpointId = checkpointId,
    };
}
