namespace AgentTrainer.Training.Checkpoints;

/// <summary>The trainer's own state in a checkpoint, beside the model, optimizer and RNG state:
/// where it is (step, data position, branch) and the settings commands can change.</summary>
public sealed record TrainerPosition(long Step, long DataPosition, int Branch, double BaseLearningRate, double WeightDecay, double GradClip);

/// <summary>What is known about a checkpoint without loading it.</summary>
public sealed record CheckpointInfo(string Id, long Step, int Branch, DateTimeOffset CreatedAt, long Bytes, double? ValLoss, string? Path, bool InMemory);
