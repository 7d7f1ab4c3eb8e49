using AgentTrainer.Core.Options;

namespace AgentTrainer.Core.Schedules;

/// <summary>The schedule as a multiplier on the base learning rate. Commands change the base
/// (halve, double, set), so the schedule's shape is kept across interventions.</summary>
public sealed class LearningRateSchedule
{
    private readonly string _kind;
    private readonly int _totalSteps;
    private readonly int _warmupSteps;

    public LearningRateSchedule(string kind, int totalSteps, int warmupSteps)
    {
        if (!ScheduleNames.All.Contains(kind))
        {
            throw new ArgumentException($"Unknown schedule '{kind}'; expected one of {string.Join(", ", ScheduleNames.All)}.", nameof(kind));
        }
        ArgumentOutOfRangeException.ThrowIfLessThan(totalSteps, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(warmupSteps);
        _kind = kind;
        _totalSteps = totalSteps;
        _warmupSteps = warmupSteps;
    }

    /// <summary>Multiplier in (0, 1] for the update made at <paramref name="step"/> (0-based).</summary>
    public double Multiplier(long step)
    {
        if (step < _warmupSteps)
        {
            return (step + 1) / (double)_warmupSteps;
        }
        int decaySteps = Math.Max(1, _totalSteps - _warmupSteps);
        double progress = Math.Clamp((step - _warmupSteps) / (double)decaySteps, 0, 1);
        // Never exactly zero: the last update still moves, and lr stays a positive number for the agent.
        const double Floor = 1e-3;
        return _kind switch
        {
            ScheduleNames.Linear => Math.Max(Floor, 1 - progress),
            ScheduleNames.Cosine => Math.Max(Floor, 0.5 * (1 + Math.Cos(Math.PI * progress))),
            _ => 1,
        };
    }
}
