namespace AgentTrainer.Core.Runs;

/// <summary>What is known about a checkpoint without loading it. <paramref name="ValLoss"/>: measured at its
/// step, if it was; <paramref name="LastValLoss"/>: the latest validation loss of its branch at or before it.
/// <paramref name="Path"/> is where it is on disk, if it is; <paramref name="InMemory"/> whether a copy is in memory.</summary>
public sealed record CheckpointInfo(
    string Id, long Step, int Branch, DateTimeOffset CreatedAt, long Bytes, double? ValLoss, string? Path, bool InMemory,
    double? LastValLoss = null);
