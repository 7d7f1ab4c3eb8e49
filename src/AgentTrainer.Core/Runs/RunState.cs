namespace AgentTrainer.Core.Runs;

/// <summary>A consistent picture of a run for other threads (API, agent, progress display).</summary>
/// <param name="TrainedSteps">optimizer steps taken in all, across branches and sessions</param>
/// <param name="BudgetStepsLeft">steps the run's budget still allows (trained steps, deadline)</param>
/// <param name="Exploring">an exploration (explore) is training its branches: the branch changes under it</param>
public sealed record RunState(
    long Step, long TotalSteps, int Branch, double LearningRate, double BaseLearningRate, bool Paused, double? LastLoss,
    long TrainedSteps, long BudgetStepsLeft, bool Exploring = false);
