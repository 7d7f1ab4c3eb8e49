using System.Data.Common;
using System.Globalization;
using Microsoft.Data.Sqlite;
using Npgsql;

namespace AgentTrainer.Service.Store;

/// <summary>The service's durable state — runs index, review inbox, audit, people's tokens, notifications and their
/// deliveries — in SQLite (embedded, the default) or PostgreSQL (several service instances share one). The SQL is
/// the subset both speak (<c>@name</c> parameters, <c>ON CONFLICT</c>, <c>RETURNING</c>); the schema differs only
/// in its identity columns. Every change that must happen once (a review decided, a notification claimed) is one
/// conditional statement, so two instances cannot both make it.</summary>
public sealed class ServiceStore : IDisposable
{
    private readonly DbDataSource _source;

    private ServiceStore(DbDataSource source, StoreKind kind, string description)
    {
        _source = source;
        Kind = kind;
        Description = description;
    }

    public StoreKind Kind { get; }

    /// <summary>Where the store is, without credentials (for logs and messages).</summary>
    public string Description { get; }

    /// <summary>Opens the store a connection string names (see <see cref="ServiceOptions.Store"/>) and makes its
    /// schema. A PostgreSQL that cannot be reached, or a SQLite file that cannot be made, is an error naming
    /// it.</summary>
    /// <exception cref="StoreException">the store cannot be opened</exception>
    public static ServiceStore Open(string connection, string defaultSqliteFile)
    {
        ServiceStore store = IsPostgres(connection) ? Postgres(connection) : Sqlite(connection, defaultSqliteFile);
        try
        {
            StoreSchema.Create(store);
        }
        catch (Exception error) when (error is DbException or InvalidOperationException or IOException)
        {
            store.Dispose();
            throw new StoreException($"--store (Service:Store): cannot use {store.Description}: {error.Message}", error);
        }
        return store;
    }

    public static bool IsPostgres(string connection) =>
        connection.Contains("Host=", StringComparison.OrdinalIgnoreCase)
        || connection.StartsWith("postgres", StringComparison.Ordinal);

    private static ServiceStore Postgres(string connection)
    {
        NpgsqlConnectionStringBuilder builder;
        try
        {
            builder = new NpgsqlConnectionStringBuilder(connection);
        }
        catch (ArgumentException error)
        {
            throw new StoreException($"--store (Service:Store): not a PostgreSQL connection string: {error.Message}", error);
        }
        return new ServiceStore(NpgsqlDataSource.Create(builder), StoreKind.Postgres,
            $"PostgreSQL database '{builder.Database}' on {builder.Host}:{builder.Port}");
    }

    private static ServiceStore Sqlite(string connection, string defaultFile)
    {
        string file = string.IsNullOrWhiteSpace(connection) ? defaultFile
            : connection.Contains('=', StringComparison.Ordinal) ? new SqliteConnectionStringBuilder(connection).DataSource
            : connection;
        file = Path.GetFullPath(file);
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new StoreException($"--store (Service:Store): cannot make the folder of SQLite file {file}: {error.Message}", error);
        }
        var builder = new SqliteConnectionStringBuilder
        {
            DataSource = file, Mode = SqliteOpenMode.ReadWriteCreate, Pooling = true, DefaultTimeout = 30,
        };
        return new ServiceStore(SqliteFactory.Instance.CreateDataSource(builder.ToString()), StoreKind.Sqlite,
            $"SQLite file {file}");
    }

    public DbConnection Connect() => _source.OpenConnection();

    public int Execute(string sql, params (string Name, object? Value)[] parameters)
    {
        using DbConnection connection = Connect();
        using DbCommand command = Command(connection, sql, parameters);
        return command.ExecuteNonQuery();
    }

    public IReadOnlyList<T> Query<T>(string sql, Func<DbDataReader, T> read, params (string Name, object? Value)[] parameters)
    {
        using DbConnection connection = Connect();
        using DbCommand command = Command(connection, sql, parameters);
        using DbDataReader reader = command.ExecuteReader();
        var rows = new List<T>();
        while (reader.Read())
        {
            rows.Add(read(reader));
        }
        return rows;
    }

    public static DbCommand Command(DbConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        DbCommand command = connection.CreateCommand();
        command.CommandText = sql;
        foreach ((string name, object? value) in parameters)
        {
            DbParameter parameter = command.CreateParameter();
            parameter.ParameterName = name;
            parameter.Value = value ?? DBNull.Value;
            if (value is null)
            {
                parameter.DbType = System.Data.DbType.String; // PostgreSQL must know a null's type
            }
            command.Parameters.Add(parameter);
        }
        return command;
    }

    /// <summary>A time as stored: ISO 8601 in UTC, so text order is time order in both databases.</summary>
    public static string Time(DateTimeOffset time) => time.ToUniversalTime().ToString("O", CultureInfo.InvariantCulture);

    public static DateTimeOffset ReadTime(DbDataReader reader, string column) =>
        DateTimeOffset.Parse(reader.GetString(reader.GetOrdinal(column)), CultureInfo.InvariantCulture);

    public static string? Text(DbDataReader reader, string column)
    {
        int ordinal = reader.GetOrdinal(column);
        return reader.IsDBNull(ordinal) ? null : reader.GetString(ordinal);
    }

    public static long? Number(DbDataReader reader, string column)
    {
        int ordinal = reader.GetOrdinal(column);
        return reader.IsDBNull(ordinal) ? null : Convert.ToInt64(reader.GetValue(ordinal), CultureInfo.InvariantCulture);
    }

    public void Dispose() => _source.Dispose();
}

public enum StoreKind
{
    Sqlite,
    Postgres,
}

/// <summary>The store cannot be opened or used; the message names it and says why.</summary>
public sealed class StoreException(string message, Exception? inner = null) : Exception(message, inner);
