using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Summaries;

namespace AgentTrainer.Agents.Supervision;

/// <summary>Decides which steps call for the agent: every <c>decideEvery</c> steps, at once on a
/// non-finite loss, a loss spike or a gradient-norm explosion (against the policy's factors and the last
/// 50 finite steps), and a few steps after the lr jumped (once the loss shows what the new lr does).
/// Pure bookkeeping over the steps it is shown, in order.</summary>
public sealed class TriggerDetector(Policy policy, int decideEvery)
{
    public const string Scheduled = "scheduled";
    public const string NonFiniteLoss = "non_finite_loss";
    public const string LossSpike = "loss_spike";
    public const string GradNormExplosion = "grad_norm_explosion";
    public const string LearningRateJump = "lr_jump";

    /// <summary>Finite steps the spike tests compare against.</summary>
    private const int Window = 50;

    /// <summary>A spike or explosion this soon after the last trigger is the same trouble, already raised.</summary>
    private const int QuietSteps = 10;

    private readonly List<double> _losses = [];
    private readonly List<double> _gradNorms = [];
    private long _seen;
    private long? _lastTrigger;
    private StepMetrics? _previous;
    private long? _lrJumpDue;

    /// <summary>The trigger this step raises, or null.</summary>
    public string? Observe(StepMetrics metrics)
    {
        _seen++;
        // A batch the loss guard passed over was not trained on: no trouble in the run, nor a loss to compare with.
        bool skipped = metrics.Skipped == true;
        if (_previous is { } previous && previous.Branch == metrics.Branch
            && LearningRateJumps.IsJump(previous.LearningRate, metrics.LearningRate))
        {
            _lrJumpDue = _seen + LearningRateJumps.SettleSteps;
        }
        _previous = metrics;
        string? trigger = metrics.NonFinite ? NonFiniteLoss : skipped ? WhenScheduled(metrics) : Detect(metrics);
        if (!metrics.NonFinite && !skipped)
        {
            Remember(_losses, metrics.Loss);
            Remember(_gradNorms, metrics.GradNorm);
        }
        if (trigger is not null)
        {
            _lastTrigger = _seen;
        }
        return trigger;
    }

    private string? Detect(StepMetrics metrics)
    {
        if (_seen == _lrJumpDue)
        {
            return LearningRateJump;
        }
        if (_losses.Count >= 20 && !(_seen - _lastTrigger <= QuietSteps))
        {
            if (Above(metrics.Loss, policy.LossSpikeFactor, _losses))
            {
                return LossSpike;
            }
            if (Above(metrics.GradNorm, policy.GradNormExplosionFactor, _gradNorms))
            {
                return GradNormExplosion;
            }
        }
        return WhenScheduled(metrics);
    }

    private string? WhenScheduled(StepMetrics metrics) => (metrics.Step + 1) % decideEvery == 0 ? Scheduled : null;

    /// <summary>Above factor times both the window's minimum and its median: the cheap test (the median is at
    /// least the minimum) rules most steps out without sorting.</summary>
    private static bool Above(double value, double factor, List<double> window) =>
        value > factor * window.Min() && value > factor * SummaryBuilder.Median(window);

    private static void Remember(List<double> window, double value)
    {
        if (double.IsFinite(value))
        {
            window.Add(value);
            if (window.Count > Window)
            {
                window.RemoveAt(0);
            }
        }
    }
}
