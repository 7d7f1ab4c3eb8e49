namespace AgentTrainer.Training.Trainer;

/// <summary>A consistent picture of the trainer for other threads (API, agent, progress display).</summary>
public sealed record TrainerState(long Step, long TotalSteps, int Branch, double LearningRate, double BaseLearningRate, bool Paused, double? LastLoss);

/// <summary>How a run ended, and at which step.</summary>
public sealed record TrainerResult(string Outcome, long Step, int Branches);
