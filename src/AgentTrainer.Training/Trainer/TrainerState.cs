namespace AgentTrainer.Training.Trainer;

/// <summary>A consistent picture of the trainer for other threads (API, agent, progress display).</summary>
/// <param name="TrainedSteps">optimizer steps taken in all, across branches and sessions</param>
/// <param name="BudgetStepsLeft">steps the run's budget still allows (see <see cref="BudgetMeter"/>)</param>
public sealed record TrainerState(
    long Step, long TotalSteps, int Branch, double LearningRate, double BaseLearningRate, bool Paused, double? LastLoss,
    long TrainedSteps, long BudgetStepsLeft);

/// <summary>How a run ended, at which step, the checkpoint holding the model it hands back (the last
/// state, or the best when that was better), and the checkpoint with the best validation loss with its loss
/// on the whole held-out set (as the final model's is measured).</summary>
public sealed record TrainerResult(
    string Outcome, long Step, int Branches, string ModelCheckpoint, string BestCheckpoint, double BestCheckpointValLoss);
