namespace AgentTrainer.Training.Checkpoints;

/// <summary>The trainer's own state in a checkpoint, beside the model, optimizer and RNG state:
/// where it is (step, data position, branch), the settings commands can change, and the keys of the
/// commands whose effect it contains (a restarted run re-applies exactly the approved ones it lacks).</summary>
public sealed record TrainerPosition(
    long Step, long DataPosition, int Branch, double BaseLearningRate, double WeightDecay, double GradClip, IReadOnlyList<string>? AppliedKeys = null);

/// <summary>What is known about a checkpoint without loading it.</summary>
public sealed record CheckpointInfo(string Id, long Step, int Branch, DateTimeOffset CreatedAt, long Bytes, double? ValLoss, string? Path, bool InMemory);
