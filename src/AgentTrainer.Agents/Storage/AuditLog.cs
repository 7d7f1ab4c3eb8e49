using System.Globalization;
using System.Text.Json;
using System.Threading.Channels;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Records;
using Microsoft.Data.Sqlite;

namespace AgentTrainer.Agents.Storage;

/// <summary>Every event of the run (commands, decisions with their summaries and model calls,
/// proposals, reviews, effects) in SQLite, beside events.jsonl. Written on a background task, so
/// the training thread never waits for the disk.</summary>
public sealed class AuditLog : IRunObserver, IAsyncDisposable
{
    private readonly Channel<RunEvent> _events = Channel.CreateUnbounded<RunEvent>(new UnboundedChannelOptions { SingleReader = true });
    private readonly Task _pump;

    public AuditLog(string databasePath)
    {
        DatabasePath = databasePath;
        AgentDatabase.Open(databasePath).Dispose(); // create the schema now, not on the first event
        _pump = Task.Run(PumpAsync);
    }

    public string DatabasePath { get; }

    public void OnStep(StepMetrics metrics)
    {
    }

    public void OnEvaluation(EvaluationMetrics metrics)
    {
    }

    public void OnEvent(RunEvent runEvent) => _events.Writer.TryWrite(runEvent);

    private async Task PumpAsync()
    {
        while (await _events.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            // A pooled connection per batch (cheap): one held for the whole run would keep writing into a
            // deleted agent.db's file instead of the new one.
            using SqliteConnection connection = AgentDatabase.Open(DatabasePath);
            using SqliteTransaction transaction = connection.BeginTransaction();
            while (_events.Reader.TryRead(out RunEvent? runEvent))
            {
                string json = JsonSerializer.Serialize(runEvent, RunJson.Options);
                string type = RunEventTypes.Of(runEvent);
                using SqliteCommand command = AgentDatabase.Command(connection,
                    "INSERT INTO audit (time, type, step, branch, json) VALUES ($time, $type, $step, $branch, $json)",
                    ("$time", runEvent.Time.ToString("O", CultureInfo.InvariantCulture)), ("$type", type), ("$step", runEvent.Step),
                    ("$branch", runEvent.Branch), ("$json", json));
                command.Transaction = transaction;
                command.ExecuteNonQuery();
            }
            transaction.Commit();
        }
    }

    /// <summary>The audit entries, oldest first, optionally of one type.</summary>
    public static IReadOnlyList<(string Type, long Step, string Json)> Read(string databasePath, string? type = null)
    {
        using SqliteConnection connection = AgentDatabase.Open(databasePath);
        using SqliteCommand command = AgentDatabase.Command(connection,
            "SELECT type, step, json FROM audit WHERE $type IS NULL OR type = $type ORDER BY id", ("$type", type));
        using SqliteDataReader reader = command.ExecuteReader();
        var entries = new List<(string, long, string)>();
        while (reader.Read())
        {
            entries.Add((reader.GetString(0), reader.GetInt64(1), reader.GetString(2)));
        }
        return entries;
    }

    /// <summary>A page of entries, newest first: optionally of one type, containing a text
    /// (case-insensitive, anywhere in the event), and older than an entry id (the next page).</summary>
    public static IReadOnlyList<AuditEntry> Search(string databasePath, string? text, string? type, int limit, long? beforeId)
    {
        using SqliteConnection connection = AgentDatabase.Open(databasePath);
        using SqliteCommand command = AgentDatabase.Command(connection, """
            SELECT id, time, type, step, branch, json FROM audit
            WHERE ($type IS NULL OR type = $type) AND ($before IS NULL OR id < $before)
              AND ($text IS NULL OR instr(lower(json), lower($text)) > 0)
            ORDER BY id DESC LIMIT $limit
            """, ("$type", type), ("$before", beforeId), ("$text", string.IsNullOrEmpty(text) ? null : text), ("$limit", limit));
        return ReadEntries(command);
    }

    /// <summary>Up to <paramref name="limit"/> entries after an entry id, oldest first (to follow the log).</summary>
    public static IReadOnlyList<AuditEntry> ReadAfter(string databasePath, long afterId, int limit)
    {
        using SqliteConnection connection = AgentDatabase.Open(databasePath);
        using SqliteCommand command = AgentDatabase.Command(connection,
            "SELECT id, time, type, step, branch, json FROM audit WHERE id > $after ORDER BY id LIMIT $limit",
            ("$after", afterId), ("$limit", limit));
        return ReadEntries(command);
    }

    private static List<AuditEntry> ReadEntries(SqliteCommand command)
    {
        using SqliteDataReader reader = command.ExecuteReader();
        var entries = new List<AuditEntry>();
        while (reader.Read())
        {
            using JsonDocument json = JsonDocument.Parse(reader.GetString(5));
            entries.Add(new AuditEntry(reader.GetInt64(0), DateTimeOffset.Parse(reader.GetString(1), CultureInfo.InvariantCulture),
                reader.GetString(2), reader.GetInt64(3), reader.GetInt32(4), json.RootElement.Clone()));
        }
        return entries;
    }

    public async ValueTask DisposeAsync()
    {
        _events.Writer.TryComplete();
        await _pump.ConfigureAwait(false);
    }
}

/// <summary>One audit entry: the event as recorded, with its row id (for paging).</summary>
public sealed record AuditEntry(long Id, DateTimeOffset Time, string Type, long Step, int Branch, JsonElement Event);
