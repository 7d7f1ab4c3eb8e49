using AgentTrainer.App.Hosting;
using AgentTrainer.ControlPlane;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Mvc.Testing;
using Microsoft.AspNetCore.TestHost;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AgentTrainer.Tests.ControlPlane;

/// <summary>The real agent-trainer host (built by the same <see cref="AgentTrainerHost.Build"/> the run
/// command uses: real trainer, agent, SQLite, API) on an in-memory test server. The factory's own host
/// discovery is bypassed because the entry point is a System.CommandLine program, not a minimal-hosting one.</summary>
public sealed class ControlPlaneFactory : WebApplicationFactory<RunExit>
{
    public const string Token = "test-token-0123456789abcdef";
    private readonly Dictionary<string, string?> _settings;
    private readonly Action<WebApplicationBuilder>? _configure;

    /// <param name="configure">more changes to the web host (a log to read, say)</param>
    public ControlPlaneFactory(Dictionary<string, string?>? settings = null, Action<WebApplicationBuilder>? configure = null)
    {
        _configure = configure;
        Folder = TestFolders.Create("api");
        _settings = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
        {
            ["Training:Task"] = "synthetic",
            ["Training:Steps"] = "100000",
            ["Training:Threads"] = "1",
            ["Training:StartPaused"] = "true",
            ["Training:CheckpointEvery"] = "0",
            ["Training:Out"] = Path.Combine(Folder, "run"),
            ["Agent:Provider"] = "rules",
            ["Agent:Policy"] = "policies/supervised.yaml",
            ["ControlPlane:Token"] = Token,
        };
        foreach ((string key, string? value) in settings ?? [])
        {
            _settings[key] = value;
        }
    }

    public string Folder { get; }

    /// <summary>The run, once the trainer has assembled it.</summary>
    public RunHandle Run
    {
        get
        {
            ActiveRun active = Services.GetRequiredService<ActiveRun>();
            SpinWait.SpinUntil(() => active.Current is not null, TimeSpan.FromSeconds(60));
            return active.Current ?? throw new TimeoutException("The run was not assembled within a minute.");
        }
    }

    public HttpClient CreateAuthorizedClient()
    {
        HttpClient client = CreateClient();
        client.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", Token);
        return client;
    }

    protected override IHost CreateHost(IHostBuilder builder)
    {
        IHost host = AgentTrainerHost.Build(_settings, configFile: null, web =>
        {
            web.WebHost.UseTestServer();
            _configure?.Invoke(web);
        });
        host.Start();
        return host;
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing);
        if (disposing)
        {
            TestFolders.Delete(Folder);
        }
    }
}
