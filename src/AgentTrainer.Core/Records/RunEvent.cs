using System.Text.Json.Serialization;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;

namespace AgentTrainer.Core.Records;

/// <summary>One line of events.jsonl. <c>type</c> tells which; every event has time, step and branch.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(RunStartedEvent), "run_started")]
[JsonDerivedType(typeof(CommandEvent), "command")]
[JsonDerivedType(typeof(CheckpointSavedEvent), "checkpoint_saved")]
[JsonDerivedType(typeof(CheckpointPrunedEvent), "checkpoint_pruned")]
[JsonDerivedType(typeof(CheckpointSkippedEvent), "checkpoint_skipped")]
[JsonDerivedType(typeof(BranchCreatedEvent), "branch_created")]
[JsonDerivedType(typeof(FaultInjectedEvent), "fault_injected")]
[JsonDerivedType(typeof(NonFiniteLossEvent), "non_finite_loss")]
[JsonDerivedType(typeof(BatchSkippedEvent), "batch_skipped")]
[JsonDerivedType(typeof(ExplorationFinishedEvent), "exploration_finished")]
[JsonDerivedType(typeof(BranchChoiceAwaitedEvent), "branch_choice_awaited")]
[JsonDerivedType(typeof(DatasetUpdatedEvent), "dataset_updated")]
[JsonDerivedType(typeof(RunFinishedEvent), "run_finished")]
[JsonDerivedType(typeof(BestModelRestoredEvent), "best_model_restored")]
[JsonDerivedType(typeof(AgentDecisionEvent), "agent_decision")]
[JsonDerivedType(typeof(ProposalEvent), "proposal")]
[JsonDerivedType(typeof(ReviewEvent), "review")]
[JsonDerivedType(typeof(InterventionEffectEvent), "intervention_effect")]
public abstract record RunEvent
{
    public required DateTimeOffset Time { get; init; }
    public required long Step { get; init; }
    public required int Branch { get; init; }
}

public sealed record RunStartedEvent : RunEvent
{
    public required string Task { get; init; }
    public required string Device { get; init; }
    public long? ResumedFromStep { get; init; }
}

/// <summary>A command's status change: written once per transition, so a command's whole life can
/// be read back from the log.</summary>
public sealed record CommandEvent : RunEvent
{
    public required string Id { get; init; }
    public required string Kind { get; init; }
    public required CommandSource Source { get; init; }
    public required TrainerCommand Arguments { get; init; }
    public required CommandStatus Status { get; init; }
    public string? Reason { get; init; }

    /// <summary>A command's status change, at <paramref name="step"/> of <paramref name="branch"/> when the change
    /// names no step.</summary>
    public static CommandEvent Of(CommandRecord record, CommandStatusChange change, long step, int branch) => new()
    {
        Time = change.At, Step = change.Step ?? step, Branch = branch, Id = record.Id, Kind = record.Command.Kind,
        Source = record.Source, Arguments = record.Command, Status = change.Status, Reason = change.Reason,
    };
}

public sealed record CheckpointSavedEvent : RunEvent
{
    public required string CheckpointId { get; init; }
    public string? Path { get; init; }
    public required long Bytes { get; init; }
}

/// <summary>A disk checkpoint deleted to keep at most CheckpointsKept (never the first, best or latest).</summary>
public sealed record CheckpointPrunedEvent : RunEvent
{
    public required string CheckpointId { get; init; }
}

/// <summary>A checkpoint file a resumed run could not use (corrupt, truncated, another model's): left
/// where it is and passed over for the newest good one.</summary>
public sealed record CheckpointSkippedEvent : RunEvent
{
    public required string Path { get; init; }
    public required string Problem { get; init; }
}

public sealed record BranchCreatedEvent : RunEvent
{
    public required int ParentBranch { get; init; }
    public required long ForkStep { get; init; }
    public required string CheckpointId { get; init; }
}

public sealed record FaultInjectedEvent : RunEvent
{
    public required string Kind { get; init; }
    public required string Description { get; init; }
}

public sealed record NonFiniteLossEvent : RunEvent
{
    public required int Consecutive { get; init; }
}

/// <summary>The trainer's loss guard passed a batch over: its loss was <see cref="Factor"/> times the moving average
/// of recent trained losses or more (Training:Guards:SkipBatchLossFactor). <see cref="Skipped"/> counts the run's
/// skipped batches so far, on this lineage.</summary>
public sealed record BatchSkippedEvent : RunEvent
{
    public required double Loss { get; init; }
    public required double LossAverage { get; init; }
    public required double Factor { get; init; }
    public required long Skipped { get; init; }
}

/// <summary>An exploration compared its branches, all trained from <see cref="ForkStep"/> for the same steps on the
/// same batches and evaluated on the same held-out batches, and the run continues on <see cref="ChosenBranch"/>
/// (<see cref="RunEvent.Branch"/>).</summary>
public sealed record ExplorationFinishedEvent : RunEvent
{
    public required string CommandId { get; init; }

    /// <summary>1 for the first round; another round explores around a best that was the lowest or highest tried.</summary>
    public required int Round { get; init; }
    public required long ForkStep { get; init; }
    public required IReadOnlyList<ExploredBranch> Candidates { get; init; }
    public required int ChosenBranch { get; init; }
    public required string Reason { get; init; }
}

/// <summary>The training data's mixture changed (a command, or a file arriving in the watched folder): the mixture
/// from here on, and what changed.</summary>
public sealed record DatasetUpdatedEvent : RunEvent
{
    public required DataMixture Mixture { get; init; }
    public required string Change { get; init; }
}

/// <summary>The training data as weighted sources; each source is pinned by the SHA-256 of its text, so a checkpoint
/// restores exactly the data it trained on (or says the data changed).</summary>
public sealed record DataMixture(IReadOnlyList<DataSource> Sources);

public sealed record DataSource(string Name, string Path, double Weight, string Sha256);

/// <summary>An exploration's last round is done and a person picks the branch (choose_branch): the run is paused
/// until then. <see cref="SuggestedBranch"/> is the one the lowest validation loss (and the margin) would pick.</summary>
public sealed record BranchChoiceAwaitedEvent : RunEvent
{
    public required string CommandId { get; init; }
    public required IReadOnlyList<ExploredBranch> Candidates { get; init; }
    public required int SuggestedBranch { get; init; }
    public required string Reason { get; init; }
}

/// <summary>One explored branch: its lr (the base lr at the fork times its factor) and its validation loss.</summary>
public sealed record ExploredBranch(int Branch, double LearningRateFactor, double LearningRate, double ValLoss);

/// <summary>At the end, the best checkpoint's weights replaced the last state's: they were better on the
/// whole held-out set (figures here) than the last state (<see cref="LastValLoss"/>).</summary>
public sealed record BestModelRestoredEvent : RunEvent
{
    public required string CheckpointId { get; init; }
    public required double ValLoss { get; init; }
    public double? Accuracy { get; init; }
    public double? BitsPerChar { get; init; }
    public required double LastValLoss { get; init; }
}

public sealed record RunFinishedEvent : RunEvent
{
    public required string Outcome { get; init; }
}

/// <summary>One agent decision: the summary text it was shown and every model call it took.</summary>
public sealed record AgentDecisionEvent : RunEvent
{
    public required string DecisionId { get; init; }
    public required string Trigger { get; init; }
    public required string Summary { get; init; }
    public required string Provider { get; init; }
    public required string Model { get; init; }
    public required IReadOnlyList<ModelCallInfo> ModelCalls { get; init; }
    public required IReadOnlyList<string> ModelErrors { get; init; }
    public string? FinalProposal { get; init; }
}

/// <summary>One model turn: attempts (retries and why), outcome (ok, fallback_keep, fallback_rules), latency, tokens.</summary>
public sealed record ModelCallInfo(
    int Attempts, IReadOnlyList<string> Retries, string Outcome, string? Error, double LatencyMs, int? InputTokens, int? OutputTokens, string? ToolCall, string? Arguments);

/// <summary>A proposal (agent, guard or approved review) and the gate's answer; command_id once queued.</summary>
public sealed record ProposalEvent : RunEvent
{
    public required string ProposalId { get; init; }
    public required CommandSource Source { get; init; }
    public required InterventionAction Action { get; init; }
    public string? CheckpointId { get; init; }
    public string? Layer { get; init; }
    public required string Reason { get; init; }
    public required Verdict Verdict { get; init; }
    public required string Rule { get; init; }
    public required string GateReason { get; init; }
    public string? CommandId { get; init; }
}

/// <summary>A review's status change (queued, applied, failed, expired, approved again), by whom and what came of it.</summary>
public sealed record ReviewEvent : RunEvent
{
    public required string ProposalId { get; init; }
    public required string Status { get; init; }
    public string? Reviewer { get; init; }
    public string? Outcome { get; init; }
}

/// <summary>The measured effect of an applied intervention: mean train loss before and after it.</summary>
public sealed record InterventionEffectEvent : RunEvent
{
    public required string ProposalId { get; init; }
    public required InterventionAction Action { get; init; }
    public required long AppliedStep { get; init; }
    public required double LossBefore { get; init; }
    public required double LossAfter { get; init; }
}
