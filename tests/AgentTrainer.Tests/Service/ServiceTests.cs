using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Text;
using AgentTrainer.Tests.ControlPlane;
using Xunit;

namespace AgentTrainer.Tests.Service;

/// <summary><c>agent-trainer serve</c> as a real process over a runs root, with three runs of three kinds — a
/// built-in task and an own .NET task it starts as child processes, and the PyTorch example attached over the
/// protocol — people's tokens, alerts to a real loopback webhook receiver, a SIGKILL and a restart, and the
/// report.</summary>
public sealed class ServiceTests : IAsyncLifetime
{
    private const string Python = "/usr/bin/python3";
    private const string BuiltIn = "builtin-spike";
    private const string OwnTask = "own-task";
    private const string PyTorch = "pytorch-spike";
    private readonly string _folder = TestFolders.Create("service");
    private readonly DateTimeOffset _started = DateTimeOffset.UtcNow;
    private WebhookReceiver _receiver = null!;

    private string Root => Path.Combine(_folder, "runs");

    public async Task InitializeAsync() => _receiver = await WebhookReceiver.StartAsync();

    public async Task DisposeAsync()
    {
        await _receiver.DisposeAsync();
        KillRunsUnder(Root); // a child run outlives the service by design: end the test's own
        TestFolders.Delete(_folder);
    }

    [Fact]
    public async Task The_service_runs_three_kinds_of_run_with_one_inbox_per_person_tokens_alerts_and_a_report_across_a_SIGKILL()
    {
        string alice = await CreateTokenAsync("alice", "reviewer");
        string victor = await CreateTokenAsync("victor", "viewer");
        string policy = SlowReaderPolicy();
        string[] serve = ["serve", "--root", Root, "--urls", "http://127.0.0.1:0", "--notifications", Rules(), "--agent", "rules",
            "--policy", policy, "--max-runs", "2"];
        var settings = new Dictionary<string, string>
        {
            ["AGENTTRAINER_Training__EvalEvery"] = "50", ["AGENTTRAINER_Training__CheckpointEvery"] = "100", // the PyTorch run's
            ["AGENTTRAINER_Service__SyncInterval"] = "00:00:00.25",
        };
        string approvedId, rejectedId;
        using (var service = new AgentTrainerProcess(serve, settings))
        {
            using HttpClient api = Client(await service.ApiAddressAsync(), AgentTrainerProcess.Token);
            await SubmitAsync(api, BuiltIn, new
            {
                Training = new
                {
                    Task = "fashion-mnist", Steps = 400000, Threads = 1, CheckpointEvery = 500, SnapshotsKept = 100000,
                    Faults = new[] { new { Kind = "lr-spike", Step = 300, Factor = 50 } },
                },
                Agent = new { Provider = "rules", Policy = policy },
            });
            await SubmitAsync(api, OwnTask, new
            {
                Training = new
                {
                    Task = "fashion-autoencoder", Steps = 200, Threads = 1,
                    TaskAssembly = Path.Combine(AppContext.BaseDirectory, "AgentTrainer.Samples.FashionAutoencoder.dll"),
                },
                Agent = new { Provider = "rules", Policy = policy },
            });
            using AgentTrainerProcess trainer = PyTorchTrainer(api.BaseAddress!);

            // Both faulty runs' fixes wait in the one inbox.
            JsonElement builtInItem = await WaitingAsync(api, BuiltIn);
            JsonElement pytorchItem = await WaitingAsync(api, PyTorch);
            Assert.False(string.IsNullOrEmpty(builtInItem.GetProperty("summary").GetString()));
            Assert.False(string.IsNullOrEmpty(builtInItem.GetProperty("rule").GetString()));

            using (HttpClient viewer = Client(api.BaseAddress!, victor))
            {
                Assert.Equal(HttpStatusCode.Forbidden, (await viewer.PostAsync(
                    $"/api/service/inbox/{BuiltIn}/{builtInItem.GetProperty("proposal_id").GetString()}/approve", null)).StatusCode);
                Assert.Equal(HttpStatusCode.Forbidden, (await viewer.PostAsync(
                    $"/api/service/inbox/{PyTorch}/{pytorchItem.GetProperty("proposal_id").GetString()}/reject", null)).StatusCode);
            }
            using (HttpClient reviewer = Client(api.BaseAddress!, alice))
            {
                JsonElement approved = await DecideWaitingAsync(api, reviewer, BuiltIn, "approve");
                JsonElement rejected = await DecideWaitingAsync(api, reviewer, PyTorch, "reject");
                approvedId = approved.GetProperty("proposal_id").GetString()!;
                rejectedId = rejected.GetProperty("proposal_id").GetString()!;
                Assert.Equal(("approved", "alice"), (approved.GetProperty("status").GetString(), approved.GetProperty("reviewer").GetString()));
                Assert.Equal(("rejected", "alice"), (rejected.GetProperty("status").GetString(), rejected.GetProperty("reviewer").GetString()));
                Assert.Equal(HttpStatusCode.Conflict, (await reviewer.PostAsync($"/api/service/inbox/{BuiltIn}/{approvedId}/approve", null)).StatusCode);
            }
            await ProcessApi.UntilAsync(() => Task.FromResult(AppliedCount(BuiltIn, approvedId) == 1), "the approval applied in its run");

            // The own task finishes; the PyTorch trainer finishes its 600 steps.
            await ProcessApi.UntilAsync(async () => State(await RunsAsync(api), OwnTask) == RunOutcomes.Completed, "the own task", TimeSpan.FromMinutes(3));
            (int trainerExit, string trainerOutput, string trainerError) = await trainer.WaitAsync(TimeSpan.FromMinutes(4));
            Assert.True(trainerExit == 0, trainerError);
            // The Python client prints the model handed back in the host's words, as run.json holds it.
            Assert.Contains($"final {HandedBack(PyTorch).Description}", trainerOutput, StringComparison.Ordinal);
            await ProcessApi.UntilAsync(async () => State(await RunsAsync(api), PyTorch) == RunOutcomes.Completed, "the PyTorch run's end");

            // Alerts: the JSON and Slack-style receivers got theirs; the failing one was tried 1 + 2 times, then
            // logged failed.
            await ProcessApi.UntilAsync(() => Task.FromResult(Received("review_waiting", BuiltIn) && Received("run_finished", OwnTask)
                && _receiver.Received.Any(r => r.TryGetProperty("text", out JsonElement text) && !r.TryGetProperty("event", out _)
                    && text.GetString()!.Contains(OwnTask, StringComparison.Ordinal))), "the notifications");
            await ProcessApi.UntilAsync(async () => (await api.GetFromJsonAsync<JsonElement>("/api/service/deliveries?limit=1000")).EnumerateArray()
                .Any(d => d.GetProperty("webhook").GetString() == "pager" && d.GetProperty("status").GetString() == "failed"), "the failed delivery");
            JsonElement failed = (await api.GetFromJsonAsync<JsonElement>("/api/service/deliveries?limit=1000")).EnumerateArray()
                .First(d => d.GetProperty("webhook").GetString() == "pager" && d.GetProperty("status").GetString() == "failed");
            Assert.Equal(3, failed.GetProperty("attempts").GetInt32());
            Assert.StartsWith("HTTP 500", failed.GetProperty("error").GetString());
            Assert.True(_receiver.Failed >= 3);

            service.Signal("KILL");
            (int killed, _, _) = await service.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(137, killed);
        }
        Assert.True(RunFolderLock.IsHeld(Path.Combine(Root, BuiltIn)), "the built-in run trains on without the service");

        using (var service = new AgentTrainerProcess(serve, settings))
        {
            using HttpClient api = Client(await service.ApiAddressAsync(), AgentTrainerProcess.Token);
            JsonElement runs = await RunsAsync(api);
            Assert.Equal([BuiltIn, OwnTask, PyTorch], runs.EnumerateArray().Select(r => r.GetProperty("name").GetString()!).Order());
            Assert.Equal(("built-in", "own-task", "remote"), (Kind(runs, BuiltIn), Kind(runs, OwnTask), Kind(runs, PyTorch)));
            await ProcessApi.UntilAsync(async () => State(await RunsAsync(api), BuiltIn) == RunOutcomes.Running, "the built-in run seen live again");

            JsonElement inbox = await api.GetFromJsonAsync<JsonElement>("/api/service/inbox");
            JsonElement approved = inbox.EnumerateArray().Single(i => i.GetProperty("proposal_id").GetString() == approvedId
                && i.GetProperty("run").GetString() == BuiltIn);
            JsonElement rejected = inbox.EnumerateArray().Single(i => i.GetProperty("proposal_id").GetString() == rejectedId
                && i.GetProperty("run").GetString() == PyTorch);
            Assert.Equal(("applied", "alice"), (approved.GetProperty("status").GetString(), approved.GetProperty("reviewer").GetString()));
            Assert.Equal(("rejected", "alice"), (rejected.GetProperty("status").GetString(), rejected.GetProperty("reviewer").GetString()));
            JsonElement audit = await api.GetFromJsonAsync<JsonElement>("/api/service/audit?limit=1000");
            Assert.Contains(audit.EnumerateArray(), e => e.GetProperty("type").GetString() == "review_approved"
                && e.GetProperty("actor").GetString() == "alice" && e.GetProperty("run").GetString() == BuiltIn);
            Assert.Contains(audit.EnumerateArray(), e => e.GetProperty("type").GetString() == "review_rejected"
                && e.GetProperty("actor").GetString() == "alice" && e.GetProperty("run").GetString() == PyTorch);

            using (HttpResponseMessage stop = await api.PostAsync($"/api/service/runs/{BuiltIn}/stop", null))
            {
                Assert.Equal(HttpStatusCode.OK, stop.StatusCode);
            }
            await ProcessApi.UntilAsync(async () => State(await RunsAsync(api), BuiltIn) == RunOutcomes.Interrupted, "the stopped run");
            Assert.Equal(1, AppliedCount(BuiltIn, approvedId)); // applied once, across the service's death

            JsonElement report = await api.GetFromJsonAsync<JsonElement>($"/api/service/report?since={Uri.EscapeDataString(_started.AddMinutes(-1).ToString("O"))}");
            JsonElement[] reported = [.. report.GetProperty("runs").EnumerateArray()];
            Assert.Equal([BuiltIn, OwnTask, PyTorch], reported.Select(r => r.GetProperty("name").GetString()!).Order());
            JsonElement builtInReport = reported.Single(r => r.GetProperty("name").GetString() == BuiltIn);
            Assert.Contains(builtInReport.GetProperty("interventions").EnumerateArray(), i => i.GetProperty("approved_by").GetString() == "alice");
            Assert.True(builtInReport.GetProperty("final_val_loss").GetDouble() > 0);
            string markdown = await api.GetStringAsync("/api/service/report.md?since=" + Uri.EscapeDataString(_started.AddMinutes(-1).ToString("O")));
            Assert.All([BuiltIn, OwnTask, PyTorch], run => Assert.Contains($"## {run}", markdown));
            // One final number: the run list, the report (JSON and text) give the model run.json says is handed back.
            foreach (string ended in new[] { OwnTask, PyTorch })
            {
                HandedBackModel handedBack = HandedBack(ended);
                JsonElement listed = runs.EnumerateArray().Single(r => r.GetProperty("name").GetString() == ended);
                JsonElement inReport = reported.Single(r => r.GetProperty("name").GetString() == ended);
                Assert.Equal(handedBack.Description, listed.GetProperty("handed_back").GetProperty("description").GetString());
                Assert.Equal(handedBack.Description, inReport.GetProperty("handed_back").GetProperty("description").GetString());
                Assert.Equal(handedBack.ValLoss, inReport.GetProperty("final_val_loss").GetDouble());
                Assert.Contains($"Hands back {MarkdownText.Line(handedBack.Description)}.", markdown, StringComparison.Ordinal);
            }
            Assert.Equal(EvaluationSplits.WholeHeldOut, HandedBack(OwnTask).Split);
            Assert.Equal("the whole validation split", HandedBack(PyTorch).Split);
            Assert.Contains("approved by alice", markdown);
        }
    }

    private HandedBackModel HandedBack(string run) =>
        RunRecordReader.ReadSummary(Path.Combine(Root, run))?.Final?.HandedBack
        ?? throw new InvalidOperationException($"{run}'s run.json names no model handed back");

    private static HttpClient Client(Uri address, string token) => new()
    {
        BaseAddress = address, DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", token) },
    };

    private async Task<string> CreateTokenAsync(string name, string role)
    {
        (int exit, string output, string error) = await AgentTrainerProcess.RunAsync(["token", "create", name, "--role", role, "--root", Root]);
        Assert.True(exit == 0, error);
        return output.Trim().Split('\n')[^1].Trim();
    }

    private string SlowReaderPolicy()
    {
        // supervised.yaml, but a proposal never goes stale while the test decides: Fashion-MNIST trains hundreds of
        // steps a second.
        string policy = Path.Combine(_folder, "supervised-slow-reader.yaml");
        File.WriteAllText(policy, File.ReadAllText("policies/supervised.yaml")
            .Replace("staleness_steps: 200", "staleness_steps: 10000000", StringComparison.Ordinal)
            .Replace("max_depth_steps: 5000", "max_depth_steps: 10000000", StringComparison.Ordinal));
        return policy;
    }

    private string Rules()
    {
        string rules = Path.Combine(_folder, "alerts.yaml");
        File.WriteAllText(rules, $"""
            webhooks:
              team: {"{"} url: "{_receiver.Address}/ok" {"}"}
              chat: {"{"} url: "{_receiver.Address}/ok", format: slack {"}"}
              pager: {"{"} url: "{_receiver.Address}/fail", retries: 2, retry_delay_seconds: 0.05 {"}"}
            rules:
              - events: [review_waiting, run_finished]
                webhooks: [team]
              - events: [run_finished]
                webhooks: [chat, pager]
                runs: own-*
            """);
        return rules;
    }

    private static async Task SubmitAsync(HttpClient api, string name, object settings)
    {
        using HttpResponseMessage response = await api.PostAsJsonAsync("/api/service/runs", new { name, settings });
        Assert.True(response.StatusCode == HttpStatusCode.Accepted, await response.Content.ReadAsStringAsync());
    }

    private AgentTrainerProcess PyTorchTrainer(Uri server) => new(Python,
        [Path.Combine(AppContext.BaseDirectory, "clients", "python", "examples", "train_charlm.py"), "--steps", "600", "--name", PyTorch,
            "--checkpoints", Path.Combine(_folder, "pytorch-checkpoints"), "--width", "64", "--context", "32", "--batch-size", "16",
            "--threads", "1", "--eval-batches", "10", "--server", server.ToString(), "--fault", "lr-spike:step=300,factor=50"],
        new Dictionary<string, string> { ["AGENTTRAINER_TOKEN"] = AgentTrainerProcess.Token, ["PYTHONUNBUFFERED"] = "1" });

    private static async Task<JsonElement> WaitingAsync(HttpClient api, string run)
    {
        JsonElement item = default;
        await ProcessApi.UntilAsync(async () =>
        {
            item = (await api.GetFromJsonAsync<JsonElement>($"/api/service/inbox?status=awaiting_review&run={run}")).EnumerateArray().FirstOrDefault();
            return item.ValueKind == JsonValueKind.Object;
        }, $"a proposal of {run} in the inbox", TimeSpan.FromMinutes(3));
        return item;
    }

    /// <summary>Decides the proposal of a run that waits now. The agent supersedes a waiting proposal with a newer one
    /// as the run goes on (409: no longer waiting), so a person answers the one that waits when they answer.</summary>
    private static async Task<JsonElement> DecideWaitingAsync(HttpClient api, HttpClient reviewer, string run, string verb)
    {
        for (int attempt = 0; ; attempt++)
        {
            string id = (await WaitingAsync(api, run)).GetProperty("proposal_id").GetString()!;
            using var body = new StringContent("""{"comment":"checked the curve"}""", Encoding.UTF8, "application/json");
            using HttpResponseMessage response = await reviewer.PostAsync($"/api/service/inbox/{run}/{id}/{verb}", body);
            if (response.StatusCode == HttpStatusCode.Conflict && attempt < 20)
            {
                continue;
            }
            Assert.True(response.StatusCode == HttpStatusCode.OK, await response.Content.ReadAsStringAsync());
            return await response.Content.ReadFromJsonAsync<JsonElement>();
        }
    }

    /// <summary>How often the run's records say the approved proposal was applied.</summary>
    private int AppliedCount(string run, string proposalId) => RunRecordReader.ReadEvents(Path.Combine(Root, run))
        .OfType<ReviewEvent>().Count(e => e.ProposalId == proposalId && e.Status == "applied");

    private bool Received(string type, string run) => _receiver.Received.Any(r => r.TryGetProperty("event", out JsonElement e)
        && e.GetString() == type && r.GetProperty("run").GetString() == run);

    private static async Task<JsonElement> RunsAsync(HttpClient api) => await api.GetFromJsonAsync<JsonElement>("/api/service/runs");

    private static string? State(JsonElement runs, string name) =>
        runs.EnumerateArray().FirstOrDefault(r => r.GetProperty("name").GetString() == name) is { ValueKind: JsonValueKind.Object } run
            ? run.GetProperty("state").GetString() : null;

    private static string Kind(JsonElement runs, string name) =>
        runs.EnumerateArray().Single(r => r.GetProperty("name").GetString() == name).GetProperty("kind").GetString()!;

    /// <summary>Ends every process whose command line names the runs root (the service's child runs).</summary>
    internal static void KillRunsUnder(string root)
    {
        foreach (string proc in Directory.EnumerateDirectories("/proc").Where(p => int.TryParse(Path.GetFileName(p), out _)))
        {
            try
            {
                string commandLine = File.ReadAllText(Path.Combine(proc, "cmdline")).Replace('\0', ' ');
                if (commandLine.Contains(root, StringComparison.Ordinal) && commandLine.Contains(" run ", StringComparison.Ordinal))
                {
                    System.Diagnostics.Process.GetProcessById(int.Parse(Path.GetFileName(proc), System.Globalization.CultureInfo.InvariantCulture)).Kill();
                }
            }
            catch (Exception error) when (error is IOException or UnauthorizedAccessException or ArgumentException
                or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                // gone meanwhile, or not ours to read
            }
        }
    }
}
