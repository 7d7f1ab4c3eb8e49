using AgentTrainer.Core.Metrics;

namespace AgentTrainer.Core.Summaries;

/// <summary>The lr rose between two trained steps of the run's lineage by a factor no schedule makes, and no
/// command was applied there nor a branch began: something outside the run's control moved it (a bad config
/// push, a scheduler bug). The loss level right before it is the run's own state to judge the present by.</summary>
/// <param name="Step">the first step trained at the raised lr</param>
/// <param name="LossBefore">mean loss of the last <see cref="LearningRateJumps.LevelSteps"/> steps before it</param>
/// <param name="NoiseBefore">relative spread of the losses before it around their trend</param>
public sealed record LearningRateJump(long Step, double Before, double After, double LossBefore, double NoiseBefore)
{
    public double Factor => After / Before;
}

public static class LearningRateJumps
{
    /// <summary>No schedule raises the lr this much from one step to the next: warmup at most doubles it (step 0
    /// to 1), linear and cosine decay only lower it.</summary>
    public const double Factor = 2.5;

    /// <summary>Steps before a jump whose mean loss is the level it is judged against.</summary>
    public const int LevelSteps = 10;

    /// <summary>Steps after a jump before it is judged: the loss needs a few steps to show what the lr does.</summary>
    public const int SettleSteps = 10;

    /// <summary>Whether the lr rose by a jump's factor from one step to the next.</summary>
    public static bool IsJump(double before, double after) => before > 0 && after >= Factor * before;

    /// <summary>The latest unexplained jump among the trained steps of the lineage, or null.</summary>
    /// <param name="commandSteps">steps at which a command took effect (its lr moves are explained)</param>
    public static LearningRateJump? Latest(IReadOnlyList<StepMetrics> steps, IReadOnlyCollection<long> commandSteps)
    {
        for (int i = steps.Count - 1; i > 0; i--)
        {
            StepMetrics before = steps[i - 1], after = steps[i];
            bool explained = after.Branch != before.Branch || commandSteps.Contains(after.Step)
                || commandSteps.Contains(after.Step - 1);
            if (!explained && IsJump(before.LearningRate, after.LearningRate))
            {
                double[] losses = [.. steps.Take(i).Where(s => !s.NonFinite && s.Skipped != true).Select(s => s.Loss)];
                double level = losses.Length == 0 ? double.NaN : losses[Math.Max(0, losses.Length - LevelSteps)..].Average();
                return new LearningRateJump(after.Step, before.LearningRate, after.LearningRate, level,
                    SummaryBuilder.Volatility(losses, 50));
            }
        }
        return null;
    }
}
