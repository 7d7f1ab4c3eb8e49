using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Npgsql;
using Xunit;

namespace AgentTrainer.Tests.Service;

/// <summary>A real PostgreSQL server the tests own: Debian's binaries (installed by scripts/install-deps.sh), a
/// fresh cluster in a temporary folder (initdb, as the postgres user when the tests run as root, since PostgreSQL
/// refuses to run as root), a free loopback port, stopped and deleted at the end. Each test takes a database of its
/// own.</summary>
public sealed class PostgresServer : IAsyncLifetime
{
    private const string User = "agent";
    private readonly string _folder = TestFolders.Create("postgres");
    private int _port;
    private string _bin = "";

    public async Task InitializeAsync()
    {
        string? version = Directory.Exists("/usr/lib/postgresql")
            ? Directory.GetDirectories("/usr/lib/postgresql").Where(d => File.Exists(Path.Combine(d, "bin", "initdb"))).Order().LastOrDefault()
            : null;
        Assert.True(version is not null, "PostgreSQL's server binaries are installed by scripts/install-deps.sh --browser");
        _bin = Path.Combine(version!, "bin");
        if (Environment.UserName == "root")
        {
            await Run("chown", ["-R", "postgres:postgres", _folder], asPostgres: false);
        }
        _port = FreePort();
        string data = Path.Combine(_folder, "data");
        await Run(Path.Combine(_bin, "initdb"), ["-D", data, "-A", "trust", "-U", User, "--no-sync", "-E", "UTF8"]);
        await Run(Path.Combine(_bin, "pg_ctl"), ["-D", data, "-l", Path.Combine(_folder, "server.log"), "-w", "-o",
            $"-p {_port} -k {_folder} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start"]);
    }

    /// <summary>A new, empty database on the server; its connection string.</summary>
    public async Task<string> NewDatabaseAsync()
    {
        string name = "t" + Guid.NewGuid().ToString("N")[..12];
        await using var connection = new NpgsqlConnection(ConnectionString("postgres"));
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await create.ExecuteNonQueryAsync();
        return ConnectionString(name);
    }

    private string ConnectionString(string database) =>
        $"Host=127.0.0.1;Port={_port};Username={User};Database={database};Pooling=true;Timeout=15";

    public async Task DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        if (_bin.Length > 0 && Directory.Exists(Path.Combine(_folder, "data")))
        {
            await Run(Path.Combine(_bin, "pg_ctl"), ["-D", Path.Combine(_folder, "data"), "-m", "immediate", "-w", "stop"]);
        }
        TestFolders.Delete(_folder);
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static async Task Run(string program, string[] arguments, bool asPostgres = true)
    {
        bool root = Environment.UserName == "root";
        var start = new ProcessStartInfo(asPostgres && root ? "runuser" : program)
        {
            RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = "/tmp",
        };
        string[] prefix = asPostgres && root ? ["-u", "postgres", "--", program] : [];
        foreach (string argument in prefix.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{program} {string.Join(' ', arguments)} failed ({process.ExitCode}): {await output}{await error}");
    }
}

[CollectionDefinition(Name)]
public sealed class PostgresCollection : ICollectionFixture<PostgresServer>
{
    public const string Name = "postgres";
}
