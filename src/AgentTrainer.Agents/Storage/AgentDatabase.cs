using Microsoft.Data.Sqlite;

namespace AgentTrainer.Agents.Storage;

/// <summary>The run's durable agent state: one SQLite file (agent.db in the run folder) with the
/// review queue and the audit log. WAL mode, so the CLI can read and review while the run writes.</summary>
public static class AgentDatabase
{
    public const string FileName = "agent.db";

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> Initialised = new(StringComparer.Ordinal);

    public static string ConnectionString(string path) =>
        new SqliteConnectionStringBuilder { DataSource = path, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = true, DefaultTimeout = 30 }.ToString();

    /// <summary>Opens a (pooled) connection; the schema is created once per file and process. A file
    /// deleted under a live run is made again (empty) rather than failing every request from then on:
    /// pooled connections to the deleted file are dropped first, or they would go on writing into it.</summary>
    public static SqliteConnection Open(string path)
    {
        string full = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(full)!);
        var connection = new SqliteConnection(ConnectionString(full));
        if (!File.Exists(full) && Initialised.TryRemove(full, out _))
        {
            SqliteConnection.ClearPool(connection);
        }
        connection.Open();
        if (Initialised.ContainsKey(full))
        {
            return connection;
        }
        Execute(connection, """
            PRAGMA journal_mode = WAL;
            PRAGMA busy_timeout = 30000;
            CREATE TABLE IF NOT EXISTS reviews (
                proposal_id TEXT PRIMARY KEY,
                created_at TEXT NOT NULL,
                expires_at TEXT NOT NULL,
                step INTEGER NOT NULL,
                branch INTEGER NOT NULL,
                action TEXT NOT NULL,
                checkpoint_id TEXT,
                layer TEXT,
                reason TEXT NOT NULL,
                rule TEXT NOT NULL,
                summary TEXT NOT NULL,
                status TEXT NOT NULL,
                reviewer TEXT,
                comment TEXT,
                decided_at TEXT,
                command_id TEXT,
                outcome TEXT);
            CREATE TABLE IF NOT EXISTS audit (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                time TEXT NOT NULL,
                type TEXT NOT NULL,
                step INTEGER NOT NULL,
                branch INTEGER NOT NULL,
                json TEXT NOT NULL);
            """);
        AddColumnIfMissing(connection, "reviews", "outcome", "TEXT"); // an agent.db written before the column existed
        Initialised[full] = true;
        return connection;
    }

    private static void AddColumnIfMissing(SqliteConnection connection, string table, string column, string type)
    {
        using SqliteCommand columns = Command(connection,
            $"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = $column", ("$column", column));
        if (Convert.ToInt64(columns.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
        {
            Execute(connection, $"ALTER TABLE {table} ADD COLUMN {column} {type}");
        }
    }

    public static void Execute(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        using SqliteCommand command = Command(connection, sql, parameters);
        command.ExecuteNonQuery();
    }

    public static SqliteCommand Command(SqliteConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        SqliteCommand command = connection.CreateCommand();
        command.CommandText = sql;
        foreach ((string name, object? value) in parameters)
        {
            command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        }
        return command;
    }
}
