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

/// <summary>A command's lifecycle: requested → pending → running → succeeded | failed.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<CommandStatus>))]
public enum CommandStatus
{
    [JsonStringEnumMemberName("requested")] Requested,
    [JsonStringEnumMemberName("pending")] Pending,
    [JsonStringEnumMemberName("running")] Running,
    [JsonStringEnumMemberName("succeeded")] Succeeded,
    [JsonStringEnumMemberName("failed")] Failed,
}
