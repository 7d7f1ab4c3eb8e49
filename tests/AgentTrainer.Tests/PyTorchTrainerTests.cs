using System.Globalization;
using System.Net;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Records;
using AgentTrainer.Tests.ControlPlane;

namespace AgentTrainer.Tests;

/// <summary>The PyTorch example trainer (clients/python/examples/train_charlm.py, Debian's torch) as a real python3
/// process under a real host started with <c>run --remote</c>: the agent, the review queue, rollbacks through the
/// protocol, a trainer killed and started again. A smaller char-lm than the default keeps each run to seconds.</summary>
public sealed partial class PyTorchTrainerTests : IDisposable
{
    private const string Python = "/usr/bin/python3";
    private static readonly string Example = Path.Combine(AppContext.BaseDirectory, "clients", "python", "examples", "train_charlm.py");
    private static readonly string[] SmallModel =
        ["--width", "64", "--context", "32", "--batch-size", "16", "--threads", "1", "--eval-batches", "10"];

    private readonly string _folder = TestFolders.Create("pytorch");

    public void Dispose() => TestFolders.Delete(_folder);

    private AgentTrainerProcess Host(params string[] more) =>
        new(["run", "--remote", "true", "--out", Path.Combine(_folder, "runs"), "--eval-every", "50", "--checkpoint-every", "100", .. more]);

    private AgentTrainerProcess Trainer(Uri? server, string name, params string[] more) => new(Python,
        [Example, "--steps", "600", "--name", name, "--checkpoints", Path.Combine(_folder, name), .. SmallModel,
            .. server is null ? Array.Empty<string>() : ["--server", server.ToString()], .. more],
        new Dictionary<string, string> { ["AGENTTRAINER_TOKEN"] = AgentTrainerProcess.Token, ["PYTHONUNBUFFERED"] = "1" });

    private static double FinalValLoss(string output) =>
        double.Parse(FinalLine().Match(output) is { Success: true } found ? found.Groups[1].Value
            : throw new InvalidOperationException("the trainer printed no final val_loss:\n" + output), CultureInfo.InvariantCulture);

    private static async Task<HttpClient> ConnectAsync(AgentTrainerProcess host) => new()
    {
        BaseAddress = await host.ApiAddressAsync(),
        DefaultRequestHeaders = { Authorization = new("Bearer", AgentTrainerProcess.Token) },
    };

    [Fact]
    public async Task The_PyTorch_example_is_rolled_back_through_the_protocol_after_an_approved_review_and_ends_better_than_alone()
    {
        const string Spike = "lr-spike:step=300,factor=50";
        using AgentTrainerProcess alone = Trainer(null, "alone", "--fault", Spike);
        using AgentTrainerProcess host = Host("--agent", "rules", "--policy", "policies/supervised.yaml");
        using HttpClient api = await ConnectAsync(host);
        using AgentTrainerProcess supervised = Trainer(api.BaseAddress, "spike", "--fault", Spike);

        // The rules agent proposes a rollback after the spike; the policy asks a person, who approves it.
        JsonElement review = default;
        try
        {
            await ProcessApi.UntilAsync(async () =>
            {
                using HttpResponseMessage response = await api.GetAsync("/api/reviews?status=awaiting_review");
                review = response.IsSuccessStatusCode
                    ? (await response.Content.ReadFromJsonAsync<JsonElement>()).EnumerateArray()
                        .FirstOrDefault(r => r.GetProperty("action").GetString() == "rollback_checkpoint")
                    : default;
                return review.ValueKind == JsonValueKind.Object;
            }, "a rollback waiting for review");
        }
        catch (TimeoutException)
        {
            string proposals = await api.GetStringAsync("/api/events?type=proposal");
            Assert.Fail($"no rollback to review; the proposals: {proposals}\ntrainer: {supervised.Output}");
        }
        string proposal = review.GetProperty("proposal_id").GetString()!;
        using (HttpResponseMessage approved = await api.PostAsync($"/api/reviews/{proposal}/approve",
            Json("""{"reviewer":"night-reviewer"}""")))
        {
            Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        }

        (int exit, string output, string error) = await supervised.WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(exit == 0, output + error);
        (int aloneExit, string aloneOutput, string aloneError) = await alone.WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(aloneExit == 0, aloneOutput + aloneError);
        Assert.True(FinalValLoss(output) < FinalValLoss(aloneOutput),
            $"with the agent {FinalValLoss(output)}, alone {FinalValLoss(aloneOutput)}");

        // The Python process loaded the checkpoint (its own outcome report says so) and went on on branch 1.
        CommandEvent[] rollback = [.. (await api.GetFromJsonAsync<RunEvent[]>("/api/events?type=command", Api.ApiJsonOptions))!
            .OfType<CommandEvent>().Where(c => c.Kind == CommandKinds.LoadCheckpoint)];
        CommandEvent applied = Assert.Single(rollback, c => c.Status == CommandStatus.Succeeded);
        Assert.Matches(@"^restored ckpt-000\d{3}-b0-s1 \(step \d+\); continuing on branch 1$", applied.Reason);
        JsonElement reviewAfter = (await api.GetFromJsonAsync<JsonElement>("/api/reviews")).EnumerateArray()
            .Single(r => r.GetProperty("proposal_id").GetString() == proposal);
        Assert.Equal("applied", reviewAfter.GetProperty("status").GetString());
        Assert.Equal("night-reviewer", reviewAfter.GetProperty("reviewer").GetString());
        Assert.True((await api.GetFromJsonAsync<JsonElement>($"/api/audit?q={proposal}")).GetArrayLength() >= 3, "audit rows for the review");
        JsonElement metrics = await api.GetFromJsonAsync<JsonElement>("/api/metrics");
        Assert.Equal([0, 1], metrics.GetProperty("train").EnumerateArray().Select(p => p.GetProperty("branch").GetInt32()).Distinct().Order());
        Assert.Equal("completed", (await api.GetFromJsonAsync<JsonElement>("/api/run")).GetProperty("status").GetString());
        Assert.Equal(RunOutcomes.Completed, RunRecordReader.ReadSummary(Path.Combine(_folder, "runs", "spike"))!.Status);
    }

    [Fact]
    public async Task The_PyTorch_example_whose_lr_jumps_50x_is_rolled_back_by_the_default_agent_and_ends_near_its_no_fault_run()
    {
        const string Spike = "lr-spike:step=300,factor=50";
        using AgentTrainerProcess alone = Trainer(null, "alone", "--fault", Spike);
        using AgentTrainerProcess healthy = Trainer(null, "healthy");
        using AgentTrainerProcess host = Host(); // the default agent: rules under unattended.yaml
        using HttpClient api = await ConnectAsync(host);
        using AgentTrainerProcess repaired = Trainer(api.BaseAddress, "spike", "--fault", Spike);

        double[] finals = new double[3];
        foreach ((AgentTrainerProcess trainer, int index) in new[] { repaired, alone, healthy }.Select((t, i) => (t, i)))
        {
            (int exit, string output, string error) = await trainer.WaitAsync(TimeSpan.FromMinutes(4));
            Assert.True(exit == 0, output + error);
            finals[index] = FinalValLoss(output);
        }
        (double withAgent, double withoutAgent, double withoutFault) = (finals[0], finals[1], finals[2]);
        Assert.True(withAgent <= withoutFault * 1.05, $"repaired {withAgent}, without the fault {withoutFault}");
        Assert.True(withAgent < withoutAgent * 0.97, $"repaired {withAgent}, no agent {withoutAgent}");
        CommandEvent[] rollbacks = [.. (await api.GetFromJsonAsync<RunEvent[]>("/api/events?type=command", Api.ApiJsonOptions))!
            .OfType<CommandEvent>().Where(c => c.Kind == CommandKinds.LoadCheckpoint && c.Status == CommandStatus.Succeeded)];
        Assert.NotEmpty(rollbacks);

        // One final number: the trainer and the host print the model run.json says is handed back, in the same words.
        HandedBackModel handedBack = RunRecordReader.ReadSummary(Path.Combine(_folder, "runs", "spike"))!.Final!.HandedBack!;
        Assert.Equal((withAgent, "the whole validation split"), (Math.Round(handedBack.ValLoss, 4), handedBack.Split));
        Assert.Contains($"final {handedBack.Description}", repaired.Output, StringComparison.Ordinal);
        await ProcessApi.UntilAsync(() => Task.FromResult(host.Output.Contains(
            $"hands back {handedBack.Description}", StringComparison.Ordinal)), "the host's line for the run's end");
    }

    [Fact]
    public async Task A_killed_PyTorch_trainer_is_lost_within_the_timeout_and_continues_from_its_checkpoint_as_session_2()
    {
        using AgentTrainerProcess host = Host("--agent", "none", "--lost-after", "00:00:03");
        using HttpClient api = await ConnectAsync(host);
        string run = Path.Combine(_folder, "runs", "night");
        using (AgentTrainerProcess first = Trainer(api.BaseAddress, "night"))
        {
            await ProcessApi.UntilRunAsync(api, state => state.GetProperty("step").GetInt64() >= 250, "250 steps");
            first.Signal("KILL");
        }
        DateTime killed = DateTime.UtcNow;
        await ProcessApi.UntilRunAsync(api, state => state.GetProperty("status").GetString() == RunOutcomes.Lost, "the run to be lost");
        Assert.InRange((DateTime.UtcNow - killed).TotalSeconds, 0, 3 + 3);
        using (HttpResponseMessage refused = await api.PostAsync("/api/commands",
            Json("""{"kind":"evaluate"}""")))
        {
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode); // nothing waits on a lost trainer
        }
        string newest = (await api.GetFromJsonAsync<JsonElement>("/api/checkpoints")).EnumerateArray().Last().GetProperty("id").GetString()!;

        using AgentTrainerProcess second = Trainer(api.BaseAddress, "night", "--resume");
        (int exit, string output, string error) = await second.WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(exit == 0, output + error);
        RunSummary summary = RunRecordReader.ReadSummary(run)!;
        Assert.Equal((RunOutcomes.Completed, 2, newest), (summary.Status, summary.Session, summary.ResumedFrom));
        Assert.Equal(600, summary.Final!.Steps);
        // Every step recorded once: the killed session's steps after the checkpoint are dropped, the second's kept.
        (IReadOnlyList<Core.Metrics.StepMetrics> steps, _) = RunRecordReader.ReadMetrics(run);
        Assert.Equal(Enumerable.Range(0, 600).Select(s => (long)s), steps.Select(s => s.Step));

        host.Signal("TERM"); // the host waits for trainers until stopped, and then stops
        Assert.Equal(0, (await host.WaitAsync(TimeSpan.FromSeconds(30))).ExitCode);
    }

    [Fact]
    public async Task The_Python_client_applies_every_command_kind_at_a_step_boundary_and_reports_each_outcome()
    {
        using AgentTrainerProcess host = Host("--agent", "none");
        using HttpClient api = await ConnectAsync(host);
        using AgentTrainerProcess trainer = Trainer(api.BaseAddress, "commands", "--steps", "100000");
        await ProcessApi.UntilRunAsync(api, state => state.GetProperty("step").GetInt64() >= 20, "20 steps");

        async Task<JsonElement> ApplyAsync(string command)
        {
            using HttpResponseMessage sent = await api.PostAsync("/api/commands", Json(command));
            Assert.Equal(HttpStatusCode.Accepted, sent.StatusCode);
            string id = (await sent.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
            JsonElement view = default;
            await ProcessApi.UntilAsync(async () => (view = await api.GetFromJsonAsync<JsonElement>($"/api/commands/{id}"))
                .GetProperty("status").GetString() is "succeeded" or "failed", id);
            return view;
        }
        static string Outcome(JsonElement view) => $"{view.GetProperty("status").GetString()}: {view.GetProperty("reason").GetString()}";

        Assert.Equal("succeeded: paused", Outcome(await ApplyAsync("""{"kind":"pause"}""")));
        long pausedAt = (await api.GetFromJsonAsync<JsonElement>("/api/run")).GetProperty("step").GetInt64();
        await Task.Delay(1500);
        JsonElement paused = await api.GetFromJsonAsync<JsonElement>("/api/run");
        Assert.Equal((pausedAt, "paused"), (paused.GetProperty("step").GetInt64(), paused.GetProperty("status").GetString()));
        Assert.Matches(@"^succeeded: val_loss \d+\.\d{4}$", Outcome(await ApplyAsync("""{"kind":"evaluate"}""")));
        // Two saves at one boundary (as a periodic save and a command's can be): each its own id, both reported.
        string first = Outcome(await ApplyAsync("""{"kind":"save_checkpoint"}"""));
        Assert.Matches(@"^succeeded: saved ckpt-\d{6}-b0-s1$", first);
        Assert.Equal(first + "-2", Outcome(await ApplyAsync("""{"kind":"save_checkpoint"}""")));
        Assert.Equal("succeeded: resumed", Outcome(await ApplyAsync("""{"kind":"resume"}""")));
        Assert.Equal("succeeded: weight_decay 0.01 -> 0.05; lr 0.001 -> 0.0005; grad_clip 1 -> 0.5", Outcome(await ApplyAsync(
            """{"kind":"update_optimizer","learning_rate_factor":0.5,"weight_decay":0.05,"grad_clip":0.5}""")));
        Assert.Matches(@"^succeeded: re-initialised block0\.mlp_in \(\d+ parameters\) and cleared its optimizer state$",
            Outcome(await ApplyAsync("""{"kind":"model_layer_operation","layer":"block0.mlp_in"}""")));
        Assert.Matches(@"^succeeded: saved ckpt-\d{6}-b0-s1(-\d+)?$", Outcome(await ApplyAsync("""{"kind":"save_checkpoint"}""")));
        Assert.Equal("succeeded: skipped 7 batches", Outcome(await ApplyAsync("""{"kind":"skip_data","batches":7}""")));
        Assert.Equal("succeeded: freeze block1", Outcome(await ApplyAsync(
            """{"kind":"model_layer_operation","layer":"block1","operation":"freeze"}""")));
        Assert.Equal("succeeded: unfreeze block1", Outcome(await ApplyAsync(
            """{"kind":"model_layer_operation","layer":"block1","operation":"unfreeze"}""")));
        Assert.Matches(@"^succeeded: grad_clip 0\.5 -> \d", Outcome(await ApplyAsync(
            """{"kind":"update_optimizer","grad_clip_percentile":90}""")));
        Assert.Equal("failed: operation 'scale_learning_rate' is not offered by the PyTorch client", Outcome(await ApplyAsync(
            """{"kind":"model_layer_operation","layer":"block1","operation":"scale_learning_rate","factor":2}""")));
        using (HttpResponseMessage unknown = await api.PostAsync("/api/commands", Json("""{"kind":"model_layer_operation","layer":"no.such"}""")))
        {
            Assert.Equal(HttpStatusCode.BadRequest, unknown.StatusCode); // the layers it registered are known here
        }
        // The next steps train at the new lr (half the base, times a schedule still near 1 this early).
        Assert.Equal(5e-4, (await api.GetFromJsonAsync<JsonElement>("/api/run")).GetProperty("base_learning_rate").GetDouble(), 12);
        await ProcessApi.UntilRunAsync(api, state => state.GetProperty("learning_rate").GetDouble() is > 4.99e-4 and <= 5e-4,
            "steps trained at the halved lr");
        Assert.Equal("succeeded: stopping after writing a checkpoint", Outcome(await ApplyAsync("""{"kind":"stop"}""")));
        (int exit, string output, string error) = await trainer.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(exit == 0, output + error);
        Assert.Equal(RunOutcomes.Stopped, RunRecordReader.ReadSummary(Path.Combine(_folder, "runs", "commands"))!.Status);
    }

    [Fact]
    public async Task A_trainer_whose_service_cannot_be_reached_trains_on_and_ends_as_it_would_alone()
    {
        using AgentTrainerProcess alone = Trainer(null, "alone", "--steps", "200");
        using AgentTrainerProcess unreachable = Trainer(new Uri("http://127.0.0.1:9/"), "unreachable", "--steps", "200");
        (int exit, string output, string error) = await unreachable.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.True(exit == 0, output + error);
        Assert.Contains("cannot attach", error + output);
        (int aloneExit, string aloneOutput, _) = await alone.WaitAsync(TimeSpan.FromMinutes(2));
        Assert.Equal(0, aloneExit);
        Assert.Equal(FinalValLoss(aloneOutput), FinalValLoss(output));
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [GeneratedRegex(@"final val_loss (\d+\.\d+)")]
    private static partial Regex FinalLine();
}
