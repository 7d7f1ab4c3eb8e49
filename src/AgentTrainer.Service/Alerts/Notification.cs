using System.Text.Json;
using System.Text.Json.Serialization;

namespace AgentTrainer.Service.Alerts;

/// <summary>What the service tells people about (in JSON and YAML by its name: review_waiting, ...).</summary>
[JsonConverter(typeof(NotificationEventJsonConverter))]
public enum NotificationEvent
{
    ReviewWaiting,
    InterventionApplied,
    GuardFired,
    RunDiverged,
    RunFailed,
    RunLost,
    RunFinished,
}

public static class NotificationEvents
{
    public static string Name(NotificationEvent value) => value switch
    {
        NotificationEvent.ReviewWaiting => "review_waiting",
        NotificationEvent.InterventionApplied => "intervention_applied",
        NotificationEvent.GuardFired => "guard_fired",
        NotificationEvent.RunDiverged => "run_diverged",
        NotificationEvent.RunFailed => "run_failed",
        NotificationEvent.RunLost => "run_lost",
        NotificationEvent.RunFinished => "run_finished",
        _ => throw new ArgumentOutOfRangeException(nameof(value)),
    };

    public static NotificationEvent? Parse(string name) =>
        Enum.GetValues<NotificationEvent>().Select(e => (NotificationEvent?)e).FirstOrDefault(e => Name(e!.Value) == name);

    public static string Names => string.Join(", ", Enum.GetValues<NotificationEvent>().Select(Name));
}

public sealed class NotificationEventJsonConverter : JsonConverter<NotificationEvent>
{
    public override NotificationEvent Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options) =>
        reader.TokenType == JsonTokenType.Number && Enum.IsDefined((NotificationEvent)reader.GetInt32())
            ? (NotificationEvent)reader.GetInt32() // as the first builds stored it
            : NotificationEvents.Parse(reader.GetString() ?? "") ?? throw new JsonException($"not an event: {reader.GetString()}");

    public override void Write(Utf8JsonWriter writer, NotificationEvent value, JsonSerializerOptions options) =>
        writer.WriteStringValue(NotificationEvents.Name(value));
}

/// <summary>One thing to tell: raised once per key across every instance of the service (the store says which
/// instance claimed it), then delivered to the webhooks of every rule that matches.</summary>
/// <param name="Key">what makes it one thing (a review's id, an audit entry's, a run's end)</param>
/// <param name="Text">one line for a person</param>
public sealed record Notification(
    string Key, NotificationEvent Event, string Run, DateTimeOffset Time, string Text,
    IReadOnlyDictionary<string, object?> Details);
