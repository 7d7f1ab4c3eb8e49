using System.Globalization;

namespace AgentTrainer.Agents.Decisions;

/// <summary>Bounds on what a model writes. A model's text is stored (events, audit log, review queue) and
/// shown to people; a model that answers with a megabyte must not make every record a megabyte.</summary>
public static class ModelText
{
    /// <summary>A tool call's reason, or prose in place of a tool call.</summary>
    public const int MaxReason = 2_000;

    /// <summary>A name the model gives (checkpoint id, layer name), or a call's arguments as JSON.</summary>
    public const int MaxName = 200;
    public const int MaxArguments = 4_000;

    /// <summary>The text, cut to <paramref name="limit"/> characters with a marker saying how much was cut.</summary>
    public static string? Bound(string? text, int limit)
    {
        if (text is null || text.Length <= limit)
        {
            return text;
        }
        string marker = string.Create(CultureInfo.InvariantCulture, $" [cut: {text.Length - limit:N0} more characters]");
        return text[..Math.Max(0, limit - marker.Length)] + marker;
    }
}
