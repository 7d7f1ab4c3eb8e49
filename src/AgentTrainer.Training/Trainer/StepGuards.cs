using AgentTrainer.Core.Options;
using static System.FormattableString;

namespace AgentTrainer.Training.Trainer;

/// <summary>What the step-level guards remember of the run (Training:Guards), a part of every checkpoint so a
/// replay from one decides exactly as the first pass did.</summary>
/// <param name="LossAverage">the moving average of recent trained losses (null before the first)</param>
/// <param name="Averaged">trained losses in the average so far</param>
/// <param name="Skipped">batches the loss guard passed over on this lineage</param>
/// <param name="GradNorms">the gradient norms of the last trained steps, oldest first</param>
/// <param name="SkippedInARow">batches passed over since the last trained one</param>
public sealed record StepGuardState(
    double? LossAverage, long Averaged, long Skipped, IReadOnlyList<double> GradNorms, int SkippedInARow = 0);

/// <summary>The trainer's step-level guards and the recent history they read: the loss guard (a batch whose loss is
/// far above the moving average is not trained on, as metaseq skips one) and adaptive clipping (the threshold a
/// percentile of recent gradient norms). Used by the training thread only.</summary>
internal sealed class StepGuards(TrainerGuardOptions options)
{
    /// <summary>Trained steps before the average is trusted: early losses fall too fast to judge a batch by.</summary>
    private const int WarmupSteps = 20;

    /// <summary>The weight of the newest loss in the average: about the last 20 steps count.</summary>
    private const double AverageWeight = 0.05;

    private readonly Queue<double> _gradNorms = new();
    private double? _lossAverage;
    private long _averaged;
    private int _skippedInARow;

    /// <summary>Batches passed over on this lineage.</summary>
    public long Skipped { get; private set; }

    /// <summary>The loss at or above which a batch is not trained on; null while the guard is off, warming up, or
    /// giving way after <see cref="TrainerGuardOptions.SkipBatchMaxConsecutive"/> batches skipped in a row.</summary>
    public double? SkipAbove =>
        options.SkipBatchLossFactor > 0 && _averaged >= WarmupSteps && _skippedInARow < options.SkipBatchMaxConsecutive
            ? options.SkipBatchLossFactor * _lossAverage
            : null;

    /// <summary>The adaptive clipping threshold for the next step, or null when the guard is off or has too few
    /// norms yet.</summary>
    public double? AdaptiveGradClip =>
        options.AdaptiveGradClipPercentile > 0 && _gradNorms.Count >= WarmupSteps
            ? Percentile(options.AdaptiveGradClipPercentile)
            : null;

    public double LossAverage => _lossAverage ?? double.NaN;

    /// <summary>A step that was trained on, with a finite loss and gradient norm (null when not measured).</summary>
    public void Trained(double loss, double? gradNorm)
    {
        _lossAverage = _lossAverage is { } average ? average + (AverageWeight * (loss - average)) : loss;
        _averaged++;
        _skippedInARow = 0;
        if (gradNorm is not { } norm)
        {
            return;
        }
        _gradNorms.Enqueue(norm);
        if (_gradNorms.Count > options.GradNormWindow)
        {
            _gradNorms.Dequeue();
        }
    }

    public void BatchSkipped()
    {
        Skipped++;
        _skippedInARow++;
    }

    /// <summary>The <paramref name="percentile"/>-th percentile of the recent gradient norms, interpolated between
    /// the nearest two as NumPy's default does.</summary>
    /// <exception cref="CommandRejectedException">fewer than two norms measured yet</exception>
    public double Percentile(double percentile)
    {
        if (_gradNorms.Count < 2)
        {
            throw new CommandRejectedException(Invariant(
                $"{_gradNorms.Count} gradient norms measured on this lineage yet; a percentile needs at least 2."));
        }
        double[] sorted = [.. _gradNorms.Order()];
        double rank = percentile / 100 * (sorted.Length - 1);
        int below = (int)Math.Floor(rank);
        int above = Math.Min(below + 1, sorted.Length - 1);
        return sorted[below] + ((rank - below) * (sorted[above] - sorted[below]));
    }

    public StepGuardState Save() => new(_lossAverage, _averaged, Skipped, [.. _gradNorms], _skippedInARow);

    /// <summary>Back to what a checkpoint holds; an older checkpoint without guard state starts them afresh.</summary>
    public void Restore(StepGuardState? state)
    {
        _lossAverage = state?.LossAverage;
        _averaged = state?.Averaged ?? 0;
        Skipped = state?.Skipped ?? 0;
        _skippedInARow = state?.SkippedInARow ?? 0;
        _gradNorms.Clear();
        foreach (double norm in state?.GradNorms ?? [])
        {
            _gradNorms.Enqueue(norm);
        }
    }
}
