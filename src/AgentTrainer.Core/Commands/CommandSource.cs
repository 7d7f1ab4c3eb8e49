using System.Text.Json.Serialization;

namespace AgentTrainer.Core.Commands;

[JsonConverter(typeof(JsonStringEnumConverter<CommandSource>))]
public enum CommandSource
{
    [JsonStringEnumMemberName("agent")] Agent,
    [JsonStringEnumMemberName("human")] Human,
    [JsonStringEnumMemberName("api")] Api,
    [JsonStringEnumMemberName("guard")] Guard,
}

/// <summary>A command's lifecycle: requested → pending → running → succeeded | failed, or pending →
/// cancelled when the run ends before the command's turn (it was never applied).</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CommandStatus>))]
public enum CommandStatus
{
    [JsonStringEnumMemberName("requested")] Requested,
    [JsonStringEnumMemberName("pending")] Pending,
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    [JsonStringEnumMemberName("failed")] Failed,
    [JsonStringEnumMemberName("cancelled")] Cancelled,
}

public static class CommandStatuses
{
    /// <summary>Whether the command's life is over (succeeded, failed or cancelled).</summary>
    public static bool IsFinal(this CommandStatus status) => status >= CommandStatus.Succeeded;
}
