using System.Text.Json;
using AgentTrainer.Agents.Storage;
using AgentTrainer.Service.Store;

namespace AgentTrainer.Service.Audit;

/// <summary>One audit log across runs: every run's own audit entries (mirrored once each, by their id in the run's
/// agent.db) and what people did through the service (who approved, rejected, submitted, stopped), with the
/// authenticated person as the actor.</summary>
public sealed class ServiceAudit(ServiceStore store, TimeProvider time)
{
    /// <summary>Records what a person did through the service.</summary>
    public void Record(string run, string actor, string type, long? step, object details) => store.Execute("""
        INSERT INTO audit (time, run, actor, type, step, json) VALUES (@time, @run, @actor, @type, @step, @json)
        """,
        ("@time", ServiceStore.Time(time.GetUtcNow())), ("@run", run), ("@actor", actor), ("@type", type), ("@step", step),
        ("@json", JsonSerializer.Serialize(details, Core.Records.RunJson.Options)));

    /// <summary>Copies a run's audit entry, once (a second copy of the same entry is ignored).</summary>
    public void Mirror(string run, AuditEntry entry, string? actor) => store.Execute("""
        INSERT INTO audit (time, run, actor, type, step, source_id, json)
        VALUES (@time, @run, @actor, @type, @step, @source, @json) ON CONFLICT (run, source_id) DO NOTHING
        """,
        ("@time", ServiceStore.Time(entry.Time)), ("@run", run), ("@actor", actor), ("@type", entry.Type), ("@step", entry.Step),
        ("@source", entry.Id), ("@json", entry.Event.GetRawText()));

    /// <summary>The newest entries, of one run or all.</summary>
    public IReadOnlyList<ServiceAuditEntry> Recent(string? run, int limit) => store.Query(
        $"SELECT * FROM audit {(run is null ? "" : "WHERE run = @run")} ORDER BY id DESC LIMIT @limit",
        reader =>
        {
            using JsonDocument json = JsonDocument.Parse(ServiceStore.Text(reader, "json")!);
            return new ServiceAuditEntry(ServiceStore.Number(reader, "id")!.Value, ServiceStore.ReadTime(reader, "time"),
                ServiceStore.Text(reader, "run"), ServiceStore.Text(reader, "actor"), ServiceStore.Text(reader, "type")!,
                ServiceStore.Number(reader, "step"), json.RootElement.Clone());
        },
        ("@run", run), ("@limit", limit));
}

/// <summary>An entry of the service's audit: when, which run, who (a person, the agent, a guard), what.</summary>
public sealed record ServiceAuditEntry(
    long Id, DateTimeOffset Time, string? Run, string? Actor, string Type, long? Step, JsonElement Event);
