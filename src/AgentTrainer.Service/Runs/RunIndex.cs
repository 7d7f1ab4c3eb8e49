using System.Data.Common;
using System.Text.Json;
using AgentTrainer.Core.Records;
using AgentTrainer.Service.Store;

namespace AgentTrainer.Service.Runs;

/// <summary>Every run the service knows, in the store: runs submitted here (queued until a slot is free), runs
/// found in the runs root (started by hand, or attached over the protocol), each with its state as last seen.</summary>
public sealed class RunIndex(ServiceStore store, TimeProvider time)
{
    public IReadOnlyList<RunEntry> List() =>
        store.Query("SELECT * FROM runs ORDER BY COALESCE(submitted_at, started_at, updated_at), name", Read);

    public RunEntry? Find(string name) =>
        store.Query("SELECT * FROM runs WHERE name = @name", Read, ("@name", name)) is [var found] ? found : null;

    /// <summary>Queues a submitted run; false when a run of that name is known already.</summary>
    public bool Queue(string name, string folder, string kind, string settings, string submittedBy) => store.Execute("""
        INSERT INTO runs (name, folder, kind, state, submitted_by, submitted_at, settings, updated_at)
        VALUES (@name, @folder, @kind, @state, @by, @now, @settings, @now) ON CONFLICT (name) DO NOTHING
        """,
        ("@name", name), ("@folder", folder), ("@kind", kind), ("@state", RunStates.Queued), ("@by", submittedBy),
        ("@now", Now()), ("@settings", settings)) == 1;

    /// <summary>Records a run found in the runs root, once.</summary>
    public void Discover(string name, string folder, string kind) => store.Execute("""
        INSERT INTO runs (name, folder, kind, state, updated_at) VALUES (@name, @folder, @kind, @state, @now)
        ON CONFLICT (name) DO NOTHING
        """, ("@name", name), ("@folder", folder), ("@kind", kind), ("@state", RunStates.Found), ("@now", Now()));

    /// <summary>Moves a run from one state to another; false when it was not in <paramref name="from"/> (another
    /// instance, or another request, moved it first).</summary>
    public bool Move(string name, string from, string to, string? message = null) => store.Execute(
        "UPDATE runs SET state = @to, message = COALESCE(@message, message), updated_at = @now WHERE name = @name AND state = @from",
        ("@to", to), ("@message", message), ("@now", Now()), ("@name", name), ("@from", from)) == 1;

    /// <summary>The state read from the run's folder, with its start and end.</summary>
    /// <param name="handedBack">the model an ended run hands back (run.json's); null while it runs</param>
    public void Observe(string name, string state, DateTimeOffset? startedAt, DateTimeOffset? finishedAt, string? message,
        HandedBackModel? handedBack) =>
        store.Execute("""
            UPDATE runs SET state = @state, started_at = COALESCE(@started, started_at), finished_at = @finished,
                message = COALESCE(@message, message), handed_back = @handed, updated_at = @now
            WHERE name = @name
            """,
            ("@state", state), ("@started", startedAt is { } s ? ServiceStore.Time(s) : null),
            ("@finished", finishedAt is { } f ? ServiceStore.Time(f) : null), ("@message", message),
            ("@handed", handedBack is null ? null : JsonSerializer.Serialize(handedBack, RunJson.Options)), ("@now", Now()),
            ("@name", name));

    public void SetProcess(string name, int pid, string host) => store.Execute(
        "UPDATE runs SET pid = @pid, host = @host, updated_at = @now WHERE name = @name",
        ("@pid", (long)pid), ("@host", host), ("@now", Now()), ("@name", name));

    /// <summary>Queues a lost or failed run again, to continue from its last checkpoint.</summary>
    public bool Requeue(string name, string from) => store.Execute(
        "UPDATE runs SET state = @queued, resume = 1, message = NULL, updated_at = @now WHERE name = @name AND state = @from",
        ("@queued", RunStates.Queued), ("@now", Now()), ("@name", name), ("@from", from)) == 1;

    public void SetAuditPosition(string name, long position) => store.Execute(
        "UPDATE runs SET audit_position = @position WHERE name = @name", ("@position", position), ("@name", name));

    private string Now() => ServiceStore.Time(time.GetUtcNow());

    private static RunEntry Read(DbDataReader reader)
    {
        DateTimeOffset? At(string column) => ServiceStore.Text(reader, column) is { } text
            ? DateTimeOffset.Parse(text, System.Globalization.CultureInfo.InvariantCulture) : null;
        return new RunEntry(
            ServiceStore.Text(reader, "name")!, ServiceStore.Text(reader, "folder")!, ServiceStore.Text(reader, "kind")!,
            ServiceStore.Text(reader, "state")!, ServiceStore.Text(reader, "submitted_by"), At("submitted_at"),
            ServiceStore.Text(reader, "settings"), (int?)ServiceStore.Number(reader, "pid"), ServiceStore.Text(reader, "host"),
            ServiceStore.Text(reader, "message"), ServiceStore.Number(reader, "resume") == 1, At("started_at"),
            At("finished_at"), ServiceStore.Number(reader, "audit_position") ?? 0, At("updated_at")!.Value,
            ServiceStore.Text(reader, "handed_back") is { } handedBack
                ? JsonSerializer.Deserialize<HandedBackModel>(handedBack, RunJson.Options) : null);
    }
}

/// <summary>A run as the store holds it.</summary>
/// <param name="Settings">the settings it was submitted with (null: not started by the service)</param>
/// <param name="Resume">the next start continues it from its last checkpoint</param>
/// <param name="HandedBack">the model the ended run hands back, as its run.json says</param>
public sealed record RunEntry(
    string Name, string Folder, string Kind, string State, string? SubmittedBy, DateTimeOffset? SubmittedAt,
    [property: System.Text.Json.Serialization.JsonIgnore] string? Settings, int? Pid, string? Host, string? Message,
    bool Resume, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt,
    [property: System.Text.Json.Serialization.JsonIgnore] long AuditPosition, DateTimeOffset UpdatedAt,
    HandedBackModel? HandedBack)
{
    public bool IsLive => State is RunStates.Starting or RunOutcomes.Running;
}

/// <summary>A run's states in the service: those of <see cref="RunOutcomes"/> (running, completed, stopped,
/// interrupted, diverged, out_of_budget, failed, lost) and the service's own before a run has a folder.</summary>
public static class RunStates
{
    /// <summary>Submitted, waiting for a slot.</summary>
    public const string Queued = "queued";

    /// <summary>Its process is started and has not yet taken the run folder.</summary>
    public const string Starting = "starting";

    /// <summary>Found in the runs root, not yet read.</summary>
    public const string Found = "found";

    /// <summary>Stopped before it started.</summary>
    public const string Cancelled = "cancelled";

    /// <summary>States a run stays in until someone restarts it.</summary>
    public static bool IsFinal(string state) => state is not (Queued or Starting or Found or RunOutcomes.Running);
}

/// <summary>What a run is: the service tells them apart in its list.</summary>
public static class RunKinds
{
    public const string BuiltIn = "built-in";
    public const string OwnTask = "own-task";
    public const string Remote = "remote";
}
