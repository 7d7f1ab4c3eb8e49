namespace AgentTrainer.Core.Runs;

/// <summary>One branch of a run: the root (0, no parent) or one started by loading a checkpoint at a step.</summary>
public sealed record BranchInfo(int Id, int? Parent, long ForkStep, string? CheckpointId);
