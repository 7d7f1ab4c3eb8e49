using System.Globalization;

namespace AgentTrainer.Core.Options;

/// <summary>What a run may spend: optimizer steps in all (a rollback's discarded steps count, so the
/// night cannot train far longer than asked) and, optionally, wall-clock time (done by a deadline).</summary>
public sealed record RunBudget(long MaxTrainedSteps, DateTimeOffset? Deadline)
{
    /// <summary>The budget the options set: <see cref="TrainingOptions.MaxTrainedSteps"/> (0: twice
    /// <see cref="TrainingOptions.Steps"/>) and <see cref="TrainingOptions.Deadline"/>, a time of day read
    /// as the first such time after <paramref name="firstStartedAt"/> (so a resumed run keeps its night).</summary>
    public static RunBudget From(TrainingOptions options, DateTimeOffset firstStartedAt) => new(
        options.MaxTrainedSteps > 0 ? options.MaxTrainedSteps : 2L * options.Steps,
        TryParseDeadline(options.Deadline, firstStartedAt, out DateTimeOffset? deadline) ? deadline : null);

    /// <summary>Reads a deadline: an ISO 8601 date and time ("2026-11-27T07:00:00+01:00", "2026-11-27T06:00Z")
    /// or a local time of day ("07:00"); empty means none. False when the text is neither.</summary>
    public static bool TryParseDeadline(string text, DateTimeOffset after, out DateTimeOffset? deadline)
    {
        deadline = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            return true;
        }
        if (TimeOnly.TryParseExact(text.Trim(), ["HH:mm", "HH:mm:ss"], CultureInfo.InvariantCulture, DateTimeStyles.None, out TimeOnly time))
        {
            DateTime local = after.ToLocalTime().Date + time.ToTimeSpan();
            var candidate = new DateTimeOffset(local, TimeZoneInfo.Local.GetUtcOffset(local));
            deadline = candidate > after ? candidate : candidate.AddDays(1);
            return true;
        }
        if (DateTimeOffset.TryParse(text.Trim(), CultureInfo.InvariantCulture, DateTimeStyles.AssumeLocal, out DateTimeOffset absolute)
            && text.Contains('T', StringComparison.Ordinal))
        {
            deadline = absolute;
            return true;
        }
        return false;
    }
}
