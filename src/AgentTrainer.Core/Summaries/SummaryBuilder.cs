using AgentTrainer.Core.Metrics;

namespace AgentTrainer.Core.Summaries;

/// <summary>Turns the run's recent history into a <see cref="TrainingSummary"/>: series downsampled
/// with a bias toward recent steps (as the paper's agent prompt did) and computed signals.</summary>
public static class SummaryBuilder
{
    public const int MaxSeriesPoints = 20;

    public static TrainingSummary Build(
        IReadOnlyList<StepMetrics> steps,
        IReadOnlyList<EvaluationMetrics> evaluations,
        SummaryContext context)
    {
        // Trained steps only: a batch the loss guard passed over says nothing of how the model trains.
        StepMetrics[] finite = [.. steps.Where(s => s.Trained)];
        return new TrainingSummary
        {
            Step = context.Step,
            TotalSteps = context.TotalSteps,
            Branch = context.Branch,
            LearningRate = context.LearningRate,
            BaseLearningRate = context.BaseLearningRate,
            Trigger = context.Trigger,
            TrainLoss = Downsample(finite, s => s.Loss),
            LearningRates = Downsample(steps, s => s.LearningRate),
            GradNorms = Downsample(finite, s => s.GradNorm),
            ValLoss = [.. evaluations.TakeLast(MaxSeriesPoints).Select(e => new SeriesPoint(e.Step, e.ValLoss))],
            Signals = Signals(steps, finite, evaluations, context),
            RecentInterventions = context.Interventions,
            Layers = evaluations.Count > 0 ? evaluations[^1].Layers : [],
            Checkpoints = context.Checkpoints,
            Limits = context.Limits,
            Budget = context.Budget,
            Rejections = context.Rejections ?? [],
        };
    }

    /// <summary>Buckets from the present backwards, doubling in size every two buckets: the last
    /// steps nearly one by one, the distant past in coarse means.</summary>
    public static IReadOnlyList<SeriesPoint> Downsample(IReadOnlyList<StepMetrics> steps, Func<StepMetrics, double> value)
    {
        var points = new List<SeriesPoint>();
        int end = steps.Count;
        for (int bucket = 0; end > 0 && points.Count < MaxSeriesPoints; bucket++)
        {
            int size = Math.Min(end, 1 << (bucket / 2));
            if (points.Count == MaxSeriesPoints - 1)
            {
                size = end; // the last point covers everything older
            }
            double mean = 0;
            for (int i = end - size; i < end; i++)
            {
                mean += value(steps[i]);
            }
            points.Add(new SeriesPoint(steps[end - 1].Step, mean / size));
            end -= size;
        }
        points.Reverse();
        return points;
    }

    private static SummarySignals Signals(IReadOnlyList<StepMetrics> all, StepMetrics[] finite,
        IReadOnlyList<EvaluationMetrics> evaluations, SummaryContext context)
    {
        double[] losses = [.. finite.Select(s => s.Loss)];
        double[] recent = losses[Math.Max(0, losses.Length - 10)..];
        double[] window = losses[Math.Max(0, losses.Length - 100)..];
        double[] grads = [.. finite.TakeLast(200).Select(s => s.GradNorm)];
        EvaluationMetrics? best = evaluations.Where(e => double.IsFinite(e.ValLoss)).MinBy(e => e.ValLoss);
        return new SummarySignals
        {
            RecentLoss = recent.Length > 0 ? recent.Average() : double.NaN,
            BestRecentLoss = BestBucketMean(losses[Math.Max(0, losses.Length - 300)..], 25),
            ShortTrend = Trend(losses, 50),
            LongTrend = Trend(losses, 200),
            Volatility = Volatility(losses, 50),
            PriorVolatility = PriorVolatility(losses),
            Spikes = Spikes(window),
            NonFiniteSteps = all.TakeLast(100).Count(s => !s.Measurable),
            SkippedBatches = all.TakeLast(100).Count(s => s.Skipped == true),
            RecentGradNorm = grads.Length > 0 ? grads[Math.Max(0, grads.Length - 10)..].Average() : double.NaN,
            MedianGradNorm = Median(grads),
            BestValLoss = best?.ValLoss,
            BestValStep = best?.Step,
            StepsSinceIntervention = context.StepsSinceIntervention,
            UnexplainedLrJump = LearningRateJumps.Latest(all, context.CommandSteps ?? []),
            LossJump = LossJumps.Largest(all),
        };
    }

    /// <summary>How many of the latest steps <see cref="SummarySignals.PriorVolatility"/> leaves out (the agent's
    /// default interval): a fault that began since the last look must not raise the noise it is judged by.</summary>
    public const int PriorGap = 50;

    /// <summary>Volatility of the 50 steps before the last <see cref="PriorGap"/>; with fewer than 25 steps
    /// there, of the last 50 (a young run has no earlier noise to go by).</summary>
    public static double PriorVolatility(IReadOnlyList<double> losses) => losses.Count >= PriorGap + 25
        ? Volatility([.. losses.Take(losses.Count - PriorGap)], 50)
        : Volatility(losses, 50);

    /// <summary>Losses above twice their trend line: a fast early decline is a trend, not a spike.</summary>
    public static int Spikes(IReadOnlyList<double> losses)
    {
        if (losses.Count < 5)
        {
            return 0;
        }
        (double slope, double mean) = Fit(losses, losses.Count);
        double centre = (losses.Count - 1) / 2.0;
        return Enumerable.Range(0, losses.Count).Count(i => losses[i] > 2 * (mean + slope * (i - centre)));
    }

    /// <summary>Least-squares slope over the last <paramref name="length"/> losses, as a relative
    /// change of the mean per 100 steps.</summary>
    public static double Trend(IReadOnlyList<double> losses, int length)
    {
        int n = Math.Min(length, losses.Count);
        if (n < 5)
        {
            return 0;
        }
        (double slope, double mean) = Fit(losses, n);
        return mean == 0 ? 0 : slope * 100 / mean;
    }

    /// <summary>Standard deviation of the last losses around their linear trend, relative to their mean.</summary>
    public static double Volatility(IReadOnlyList<double> losses, int length)
    {
        int n = Math.Min(length, losses.Count);
        if (n < 5)
        {
            return 0;
        }
        (double slope, double mean) = Fit(losses, n);
        double centre = (n - 1) / 2.0, squares = 0;
        for (int i = 0; i < n; i++)
        {
            double residual = losses[losses.Count - n + i] - (mean + slope * (i - centre));
            squares += residual * residual;
        }
        return mean == 0 ? 0 : Math.Sqrt(squares / n) / mean;
    }

    private static (double Slope, double Mean) Fit(IReadOnlyList<double> losses, int n)
    {
        double centre = (n - 1) / 2.0, mean = 0;
        for (int i = 0; i < n; i++)
        {
            mean += losses[losses.Count - n + i];
        }
        mean /= n;
        double covariance = 0, variance = 0;
        for (int i = 0; i < n; i++)
        {
            covariance += (i - centre) * (losses[losses.Count - n + i] - mean);
            variance += (i - centre) * (i - centre);
        }
        return (covariance / variance, mean);
    }

    private static double BestBucketMean(double[] losses, int bucket)
    {
        double best = double.NaN;
        for (int start = 0; start + bucket <= losses.Length; start += bucket)
        {
            double mean = losses.AsSpan(start, bucket).ToArray().Average();
            best = double.IsNaN(best) ? mean : Math.Min(best, mean);
        }
        return double.IsNaN(best) && losses.Length > 0 ? losses.Average() : best;
    }

    public static double Median(IReadOnlyList<double> values)
    {
        if (values.Count == 0)
        {
            return double.NaN;
        }
        double[] sorted = [.. values.Order()];
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

/// <summary>What the summary needs beyond the metrics: where the run is and what the policy allows.</summary>
public sealed record SummaryContext(
    long Step,
    long TotalSteps,
    int Branch,
    double LearningRate,
    double BaseLearningRate,
    string Trigger,
    long? StepsSinceIntervention,
    IReadOnlyList<InterventionOutcome> Interventions,
    IReadOnlyList<CheckpointSummary> Checkpoints,
    PolicyLimits Limits,
    BudgetSummary? Budget = null,
    IReadOnlyCollection<long>? CommandSteps = null,
    IReadOnlyList<Rejection>? Rejections = null);
