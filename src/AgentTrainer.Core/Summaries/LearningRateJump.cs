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
                double[] losses = [.. steps.Take(i).Where(s => s.Trained).Select(s => s.Loss)];
                double level = losses.Length == 0 ? double.NaN : losses[Math.Max(0, losses.Length - LevelSteps)..].Average();
                return new LearningRateJump(after.Step, before.LearningRate, after.LearningRate, level,
                    SummaryBuilder.Volatility(losses, 50));
            }
        }
        return null;
    }
}

/// <summary>The loss stepped up from one level to another within a few steps (a broken layer, a bad shard), well
/// beyond what its noise before did: the run's state before the step is what a repair should bring back.</summary>
/// <param name="Step">the first step of the higher level</param>
/// <param name="LossBefore">mean loss of the <see cref="LossJumps.LevelSteps"/> steps before it</param>
/// <param name="LossAfter">mean loss of the as many steps from it</param>
public sealed record LossJump(long Step, double LossBefore, double LossAfter, double NoiseBefore);

public static class LossJumps
{
    public const int LevelSteps = 10;

    /// <summary>Steps looked back over for a jump.</summary>
    public const int Horizon = 300;

    /// <summary>A jump raises the 10-step mean by this factor plus four standard errors of the difference of two
    /// 10-step means under the noise before it: four, not three, since the largest of some 300 neighbouring pairs
    /// is the one judged (measured: healthy Fashion-MNIST runs, 25% noise, show ratios up to about 1.35 between
    /// neighbouring 10-step means, healthy synthetic runs, 40% noise, up to about 2.05; a zeroed layer or a corrupt
    /// shard 2x and more, a corrupt batch of the synthetic task 10x and more).</summary>
    public const double Factor = 1.5;

    /// <summary>The largest rise of the lineage's recent losses from one 10-step level to the next, when it is a jump.</summary>
    public static LossJump? Largest(IReadOnlyList<StepMetrics> steps)
    {
        StepMetrics[] trained = [.. steps.Where(s => s.Trained).TakeLast(Horizon)];
        double[] losses = [.. trained.Select(s => s.Loss)];
        (int At, double Before, double After)? largest = null;
        for (int at = LevelSteps; at + LevelSteps <= losses.Length; at++)
        {
            double before = losses.AsSpan(at - LevelSteps, LevelSteps).ToArray().Average();
            double after = losses.AsSpan(at, LevelSteps).ToArray().Average();
            if (before > 0 && after / before > (largest is { } l ? l.After / l.Before : 0))
            {
                largest = (at, before, after);
            }
        }
        if (largest is not { } found)
        {
            return null;
        }
        double noise = SummaryBuilder.Volatility(losses[..found.At], 50); // only the winner's noise is needed
        return found.After > found.Before * (Factor + (4 * noise * Math.Sqrt(2.0 / LevelSteps)))
            ? new LossJump(trained[found.At].Step, found.Before, found.After, noise) : null;
    }
}
