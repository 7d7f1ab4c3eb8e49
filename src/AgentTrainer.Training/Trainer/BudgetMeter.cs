using AgentTrainer.Core.Options;

namespace AgentTrainer.Training.Trainer;

/// <summary>The run's budget as it is spent: optimizer steps trained in all (across branches and sessions)
/// and the time left to the deadline, turned into steps at the pace measured so far.</summary>
public sealed class BudgetMeter(RunBudget budget, TimeProvider time)
{
    /// <summary>How much a new step's time moves the measured pace (an exponential average).</summary>
    private const double PaceWeight = 0.05;
    private double _secondsPerStep = double.NaN;

    public RunBudget Budget { get; private set; } = budget;
    public long TrainedSteps { get; private set; }

    /// <summary>A resumed run: the steps trained before its checkpoint, and its first session's budget.</summary>
    public void Resume(long trainedSteps, RunBudget firstSessionBudget)
    {
        TrainedSteps = trainedSteps;
        Budget = firstSessionBudget;
    }

    public void StepTaken() => TrainedSteps++;

    /// <summary>A step's wall time: its work and the periodic work after it (evaluation, checkpoints).</summary>
    public void Pace(TimeSpan elapsed)
    {
        _secondsPerStep = double.IsNaN(_secondsPerStep)
            ? elapsed.TotalSeconds
            : ((1 - PaceWeight) * _secondsPerStep) + (PaceWeight * elapsed.TotalSeconds);
    }

    public bool Spent => StepsLeft == 0;

    /// <summary>Steps the budget still allows: the trained-step budget left, and before a deadline the
    /// steps its time holds at the measured pace (all of the rest, until a pace is measured).</summary>
    public long StepsLeft
    {
        get
        {
            long left = Math.Max(0, Budget.MaxTrainedSteps - TrainedSteps);
            if (Budget.Deadline is not { } deadline)
            {
                return left;
            }
            double seconds = (deadline - time.GetUtcNow()).TotalSeconds;
            if (seconds <= 0)
            {
                return 0;
            }
            return double.IsNaN(_secondsPerStep) || _secondsPerStep <= 0 ? left : Math.Min(left, (long)(seconds / _secondsPerStep));
        }
    }
}
