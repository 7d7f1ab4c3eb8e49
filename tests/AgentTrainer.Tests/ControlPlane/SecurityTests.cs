using System.Net.Http.Json;
using AgentTrainer.ControlPlane;
using AgentTrainer.ControlPlane.Security;
using AgentTrainer.Core.Commands;
using Xunit;

namespace AgentTrainer.Tests.ControlPlane;

/// <summary>The token's life (generated once, owner-only, refused when others can read it), the
/// refusal to listen beyond loopback without a chosen token, and secrets staying out of the API and logs.</summary>
public sealed class SecurityTests : IDisposable
{
    private readonly string _folder = TestFolders.Create("security");

    [Fact]
    [System.Runtime.Versioning.UnsupportedOSPlatform("windows")]
    public void A_generated_token_is_kept_owner_only_and_read_back_the_same()
    {
        string file = Path.Combine(_folder, "config", "agent-trainer", "api-token");
        (string token, bool created) = ApiToken.ReadOrCreate(file);
        Assert.True(created);
        Assert.True(token.Length >= 40);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(file));
        Assert.Equal((token, false), ApiToken.ReadOrCreate(file));

        File.SetUnixFileMode(file, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
        var error = Assert.Throws<InvalidOperationException>(() => ApiToken.ReadOrCreate(file));
        Assert.Contains("chmod 600", error.Message);
    }

    [Theory]
    [InlineData("http://0.0.0.0:7007", null, "listens beyond loopback")]
    [InlineData("http://192.168.1.5:7007;http://127.0.0.1:7007", null, "listens beyond loopback")]
    [InlineData("ftp://127.0.0.1:7007", null, "is not an address")]
    [InlineData("http://127.0.0.1:7007", "short", "at least 16 characters")]
    public void The_validator_refuses_unsafe_or_broken_settings(string urls, string? token, string expected)
    {
        var result = new ControlPlaneOptionsValidator().Validate(null, new ControlPlaneOptions { Urls = urls, Token = token });
        Assert.Contains(expected, Assert.Single(result.Failures!));
    }

    [Theory]
    [InlineData("http://127.0.0.1:7007", null)]
    [InlineData("http://localhost:0;http://[::1]:7007", null)]
    [InlineData("http://0.0.0.0:7007", "a-chosen-token-0123456789")]
    public void Loopback_needs_no_chosen_token_and_beyond_loopback_does(string urls, string? token) =>
        Assert.True(new ControlPlaneOptionsValidator().Validate(null, new ControlPlaneOptions { Urls = urls, Token = token }).Succeeded);

    [Fact]
    public async Task The_host_refuses_to_listen_beyond_loopback_without_a_token()
    {
        (int exit, _, string error) = await AgentTrainerProcess.RunAsync(["run", "--task", "synthetic", "--urls", "http://0.0.0.0:0", "--out", Path.Combine(_folder, "run")],
            new Dictionary<string, string> { ["AGENTTRAINER_ControlPlane__Token"] = "" });
        Assert.Equal(2, exit);
        Assert.Contains("--urls (ControlPlane:Urls) 'http://0.0.0.0:0' listens beyond loopback", error);
        Assert.False(File.Exists(Path.Combine(_folder, "run", "metrics.jsonl"))); // nothing trained
    }

    [Fact]
    public async Task An_address_already_in_use_is_an_options_error_naming_the_address()
    {
        using var taken = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        int port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        (int exit, _, string error) = await AgentTrainerProcess.RunAsync(
            ["run", "--task", "synthetic", "--steps", "50", "--urls", $"http://127.0.0.1:{port}", "--out", Path.Combine(_folder, "taken")]);
        Assert.Equal(2, exit);
        Assert.Contains($"error: --urls (ControlPlane:Urls): Failed to bind to address http://127.0.0.1:{port}", error);
        Assert.Contains("Choose another address with --urls", error);
    }

    [Fact]
    public async Task A_model_api_key_never_reaches_the_api_or_the_logs()
    {
        const string Secret = "sk-test-secret-never-shown-42";
        string run = Path.Combine(_folder, "secret-run");
        using var host = new AgentTrainerProcess(
            ["run", "--task", "synthetic", "--steps", "100000", "--threads", "1", "--agent", "openai", "--base-url", "http://127.0.0.1:9/v1",
                "--model-name", "gpt-test", "--decide-every", "50", "--out", run],
            new Dictionary<string, string> { ["OPENAI_API_KEY"] = Secret, ["AGENTTRAINER_Logging__LogLevel__Default"] = "Debug" });
        Uri url = await host.ApiAddressAsync();
        using var http = new HttpClient { BaseAddress = url };
        http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", AgentTrainerProcess.Token);
        var seen = new List<string>();
        await ApiFixture.Until(async () =>
        {
            foreach (string path in new[] { "/api/run", "/api/policy", "/api/audit?limit=1000", "/api/commands", "/openapi/v1.json", "/api/events" })
            {
                using HttpResponseMessage response = await http.GetAsync(path);
                seen.Add(await response.Content.ReadAsStringAsync());
            }
            return seen[^1].Contains("agent_decision", StringComparison.Ordinal); // the model was asked (and failed over to the fallback)
        }, "a decision against the (dead) model");
        // A long run ended by a stop command: the run cannot finish (and its API go away) while it is being read.
        using (HttpResponseMessage stop = await http.PostAsJsonAsync<TrainerCommand>("/api/commands", new StopCommand(), Api.ApiJsonOptions))
        {
            Assert.Equal(System.Net.HttpStatusCode.Accepted, stop.StatusCode);
        }
        (int exit, string output, string error) = await host.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.Equal(0, exit);
        Assert.DoesNotContain(Secret, string.Join("\n", seen));
        Assert.DoesNotContain(Secret, output + error);
        Assert.DoesNotContain(Secret, string.Join("\n", Directory.EnumerateFiles(run).Where(f => !f.EndsWith(".db", StringComparison.Ordinal)).Select(File.ReadAllText)));
    }

    public void Dispose() => TestFolders.Delete(_folder);
}
