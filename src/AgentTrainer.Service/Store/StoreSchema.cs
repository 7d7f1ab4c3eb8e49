using System.Data.Common;

namespace AgentTrainer.Service.Store;

/// <summary>The store's tables, made when missing. PostgreSQL makes them under an advisory lock, so two
/// instances starting together do not race on CREATE TABLE.</summary>
internal static class StoreSchema
{
    private const long SchemaLockKey = 7007_0015;

    public static void Create(ServiceStore store)
    {
        string identity = store.Kind == StoreKind.Postgres
            ? "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
            : "INTEGER PRIMARY KEY AUTOINCREMENT";
        using DbConnection connection = store.Connect();
        if (store.Kind == StoreKind.Sqlite)
        {
            // Readers (the CLI, a page) while the service writes; set once, kept by the file.
            using DbCommand wal = ServiceStore.Command(connection, "PRAGMA journal_mode = WAL");
            wal.ExecuteNonQuery();
        }
        using DbTransaction transaction = connection.BeginTransaction();
        if (store.Kind == StoreKind.Postgres)
        {
            Run(connection, transaction, $"SELECT pg_advisory_xact_lock({SchemaLockKey})");
        }
        foreach (string table in Tables(identity))
        {
            Run(connection, transaction, table);
        }
        AddMissingColumns(store.Kind, connection, transaction);
        transaction.Commit();
    }

    /// <summary>Columns added since a store was first made: a store from an earlier version gains them, its rows
    /// kept (SQLite has no ADD COLUMN IF NOT EXISTS, so it is asked first).</summary>
    private static void AddMissingColumns(StoreKind kind, DbConnection connection, DbTransaction transaction)
    {
        foreach ((string table, string column, string type) in AddedColumns)
        {
            if (kind == StoreKind.Postgres)
            {
                Run(connection, transaction, $"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS {column} {type}");
                continue;
            }
            using DbCommand exists = ServiceStore.Command(connection,
                $"SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = '{column}'");
            exists.Transaction = transaction;
            if (Convert.ToInt64(exists.ExecuteScalar(), System.Globalization.CultureInfo.InvariantCulture) == 0)
            {
                Run(connection, transaction, $"ALTER TABLE {table} ADD COLUMN {column} {type}");
            }
        }
    }

    private static readonly (string Table, string Column, string Type)[] AddedColumns = [("runs", "handed_back", "TEXT")];

    private static void Run(DbConnection connection, DbTransaction transaction, string sql)
    {
        using DbCommand command = ServiceStore.Command(connection, sql);
        command.Transaction = transaction;
        command.ExecuteNonQuery();
    }

    private static string[] Tables(string identity) =>
    [
        """
        CREATE TABLE IF NOT EXISTS runs (
            name TEXT PRIMARY KEY, folder TEXT NOT NULL, kind TEXT NOT NULL, state TEXT NOT NULL,
            submitted_by TEXT, submitted_at TEXT, settings TEXT, pid BIGINT, host TEXT, message TEXT,
            resume BIGINT NOT NULL DEFAULT 0, started_at TEXT, finished_at TEXT, audit_position BIGINT NOT NULL DEFAULT 0,
            updated_at TEXT NOT NULL, handed_back TEXT)
        """,
        """
        CREATE TABLE IF NOT EXISTS reviews (
            run TEXT NOT NULL, proposal_id TEXT NOT NULL, created_at TEXT NOT NULL, expires_at TEXT NOT NULL,
            step BIGINT NOT NULL, action TEXT NOT NULL, reason TEXT NOT NULL, rule TEXT NOT NULL, summary TEXT NOT NULL,
            status TEXT NOT NULL, reviewer TEXT, comment TEXT, decided_at TEXT, outcome TEXT,
            PRIMARY KEY (run, proposal_id))
        """,
        $"""
        CREATE TABLE IF NOT EXISTS audit (
            id {identity}, time TEXT NOT NULL, run TEXT, actor TEXT, type TEXT NOT NULL, step BIGINT,
            source_id BIGINT, json TEXT NOT NULL)
        """,
        "CREATE UNIQUE INDEX IF NOT EXISTS audit_source ON audit (run, source_id)",
        """
        CREATE TABLE IF NOT EXISTS people (
            token_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, token_hash TEXT NOT NULL,
            created_at TEXT NOT NULL, created_by TEXT, revoked_at TEXT)
        """,
        """
        CREATE TABLE IF NOT EXISTS notifications (
            key TEXT PRIMARY KEY, time TEXT NOT NULL, event TEXT NOT NULL, run TEXT, json TEXT NOT NULL)
        """,
        $"""
        CREATE TABLE IF NOT EXISTS deliveries (
            id {identity}, notification TEXT NOT NULL, webhook TEXT NOT NULL, time TEXT NOT NULL,
            attempts INTEGER NOT NULL, status TEXT NOT NULL, error TEXT)
        """,
    ];
}
