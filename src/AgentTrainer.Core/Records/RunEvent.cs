using System.Text.Json.Serialization;
using AgentTrainer.Core.Commands;

namespace AgentTrainer.Core.Records;

/// <summary>One line of events.jsonl. <c>type</c> tells which; every event has time, step and branch.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(RunStartedEvent), "run_started")]
[JsonDerivedType(typeof(CommandEvent), "command")]
[JsonDerivedType(typeof(CheckpointSavedEvent), "checkpoint_saved")]
[JsonDerivedType(typeof(BranchCreatedEvent), "branch_created")]
[JsonDerivedType(typeof(FaultInjectedEvent), "fault_injected")]
[JsonDerivedType(typeof(NonFiniteLossEvent), "non_finite_loss")]
[JsonDerivedType(typeof(RunFinishedEvent), "run_finished")]
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
}

public sealed record CheckpointSavedEvent : RunEvent
{
    public required string CheckpointId { get; init; }
    public string? Path { get; init; }
    public required long Bytes { get; init; }
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

public sealed record RunFinishedEvent : RunEvent
{
    public required string Outcome { get; init; }
}
