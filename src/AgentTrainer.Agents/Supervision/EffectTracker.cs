using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Summaries;

namespace AgentTrainer.Agents.Supervision;

/// <summary>Measures what each applied intervention did: the mean train loss of the
/// <c>window</c> finite steps before it against the same many after it.</summary>
public sealed class EffectTracker(int window)
{
    private readonly List<double> _losses = [];
    private readonly List<PendingEffect> _pending = [];
    private readonly List<InterventionOutcome> _measured = [];
    private long _seen;

    /// <summary>Counts a step and returns the effects whose window it completes (measured before the step's
    /// own loss is added: the window after an intervention is the steps it shaped).</summary>
    public IReadOnlyList<MeasuredEffect> Observe(StepMetrics metrics)
    {
        _seen++;
        List<MeasuredEffect> done = [];
        foreach (PendingEffect effect in _pending.Where(e => _seen - e.Seen >= window).ToList())
        {
            double after = _losses.DefaultIfEmpty(double.NaN).Average();
            _pending.Remove(effect);
            _measured.Add(Outcome(effect, after));
            done.Add(new MeasuredEffect(effect.Proposal, effect.Step, effect.LossBefore, after));
        }
        if (double.IsFinite(metrics.Loss))
        {
            _losses.Add(metrics.Loss);
            if (_losses.Count > window)
            {
                _losses.RemoveAt(0);
            }
        }
        return done;
    }

    /// <summary>An intervention applied at <paramref name="step"/>: its window starts now.</summary>
    public void Started(Proposal proposal, long step) =>
        _pending.Add(new PendingEffect(proposal, step, _seen, _losses.Count > 0 ? _losses.Average() : double.NaN));

    /// <summary>Every intervention so far, measured or (effect still null) not yet.</summary>
    public IReadOnlyList<InterventionOutcome> Interventions() =>
        [.. _measured, .. _pending.Select(e => Outcome(e, null))];

    private static InterventionOutcome Outcome(PendingEffect effect, double? lossAfter) => new(
        effect.Step, effect.Proposal.Action, effect.Proposal.Target,
        effect.Proposal.Source.ToString().ToLowerInvariant(), effect.LossBefore, lossAfter,
        effect.Proposal.BasedOnStep);

    private sealed record PendingEffect(Proposal Proposal, long Step, long Seen, double LossBefore);
}

/// <summary>An intervention's measured effect: mean train loss before and after it.</summary>
public sealed record MeasuredEffect(Proposal Proposal, long AppliedStep, double LossBefore, double LossAfter);
