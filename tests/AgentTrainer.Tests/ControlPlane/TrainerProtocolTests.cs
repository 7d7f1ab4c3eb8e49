using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AgentTrainer.Agents.Storage;
using AgentTrainer.Agents.Supervision;
using AgentTrainer.ControlPlane;
using AgentTrainer.ControlPlane.Remote;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;
using Microsoft.Extensions.DependencyInjection;
using Xunit;

namespace AgentTrainer.Tests.ControlPlane;

/// <summary>The trainer protocol on the real host (in memory): who may do what, what bad input gets, and what a
/// silent trainer's run becomes.</summary>
public sealed class TrainerProtocolTests
{
    private static ControlPlaneFactory RemoteHost(string policy = "policies/supervised.yaml", string lostAfter = "00:01:00") => new(new()
    {
        ["Remote:Enabled"] = "true",
        ["Remote:LostAfter"] = lostAfter,
        ["Remote:PollWait"] = "00:00:00.5",
        ["Agent:Policy"] = policy,
        ["Training:EvalEvery"] = "50",
    });

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");

    [Fact]
    public async Task Foreign_tokens_get_403_no_token_401_and_bad_reports_a_4xx_problem_while_nothing_changes()
    {
        using ControlPlaneFactory host = RemoteHost();
        using HttpClient operatorClient = host.CreateAuthorizedClient();
        ProtocolTrainer a = await ProtocolTrainer.RegisterAsync(operatorClient, host.CreateClient, "run-a");
        ProtocolTrainer b = await ProtocolTrainer.RegisterAsync(operatorClient, host.CreateClient, "run-b");
        await a.ReportAsync([new EvaluationReport(0, 4.0), new CheckpointReport("ckpt-0", 0, 10), .. a.Steps(3, _ => 3.5)]);
        // A command queued for run-a and never sent to its trainer (nobody polls in this test).
        using HttpResponseMessage queued = await operatorClient.PostAsync(a.RunPath("/commands"), Json("""{"kind":"evaluate"}"""));
        Assert.Equal(HttpStatusCode.Accepted, queued.StatusCode);
        string pending = (await queued.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        const string Operator = ControlPlaneFactory.Token;

        string Batch(long number, string items) => $$"""{"batch":{{number}},"items":[{{items}}]}""";
        string StepItem(string loss, string lr = "0.001") =>
            $$"""{"type":"step","step":3,"loss":{{loss}},"learning_rate":{{lr}}}""";
        string oversized = string.Join(',', Enumerable.Range(3, 201).Select(s => $$"""{"type":"step","step":{{s}},"loss":1,"learning_rate":0.001}"""));
        string registration = JsonSerializer.Serialize(ProtocolTrainer.Registration("run-c"), Api.ApiJsonOptions);
        var cases = new (string Case, string? Token, HttpMethod Method, string Path, string? Body, HttpStatusCode Status)[]
        {
            ("no token", null, HttpMethod.Get, a.RunPath(), null, HttpStatusCode.Unauthorized),
            ("an unknown token", "not-a-token-of-anything-here", HttpMethod.Get, a.RunPath(), null, HttpStatusCode.Unauthorized),
            ("run-a's token reads run-b", a.Token, HttpMethod.Get, b.RunPath(), null, HttpStatusCode.Forbidden),
            ("run-a's token lists run-b's commands", a.Token, HttpMethod.Get, b.RunPath("/commands?wait_s=0"), null, HttpStatusCode.Forbidden),
            ("run-a's token commands run-b", a.Token, HttpMethod.Post, b.RunPath("/commands"), """{"kind":"stop"}""", HttpStatusCode.Forbidden),
            ("run-a's token reports for run-b", a.Token, HttpMethod.Post, b.RunPath("/reports"), Batch(1, StepItem("1")), HttpStatusCode.Forbidden),
            ("run-a's token starts a session of run-b", a.Token, HttpMethod.Post, b.RunPath("/sessions"), """{"protocol_version":1}""", HttpStatusCode.Forbidden),
            ("a run token on the operator's command API", a.Token, HttpMethod.Post, "/api/commands", """{"kind":"stop"}""", HttpStatusCode.Forbidden),
            ("a run token registers a run", a.Token, HttpMethod.Post, "/api/v1/runs", registration, HttpStatusCode.Forbidden),
            ("a duplicated batch", a.Token, HttpMethod.Post, a.RunPath("/reports"), Batch(1, StepItem("1")), HttpStatusCode.Conflict),
            ("a batch out of order", a.Token, HttpMethod.Post, a.RunPath("/reports"), Batch(3, StepItem("1")), HttpStatusCode.Conflict),
            ("steps out of order", a.Token, HttpMethod.Post, a.RunPath("/reports"),
                Batch(2, """{"type":"step","step":7,"loss":1,"learning_rate":0.001}"""), HttpStatusCode.BadRequest),
            ("a step sent twice in one batch", a.Token, HttpMethod.Post, a.RunPath("/reports"),
                Batch(2, StepItem("1") + "," + StepItem("1")), HttpStatusCode.BadRequest),
            ("metrics for an unknown run", Operator, HttpMethod.Post, "/api/v1/runs/no-such-run/reports", Batch(1, StepItem("1")), HttpStatusCode.NotFound),
            ("an outcome for an unknown command id", a.Token, HttpMethod.Post, a.RunPath("/reports"),
                Batch(2, """{"type":"outcome","command_id":"cmd-99999","succeeded":true,"detail":"done","step":3}"""), HttpStatusCode.NotFound),
            ("an outcome for a command never sent", a.Token, HttpMethod.Post, a.RunPath("/reports"),
                Batch(2, $$"""{"type":"outcome","command_id":"{{pending}}","succeeded":true,"detail":"done","step":3}"""), HttpStatusCode.Conflict),
            ("an oversized batch", a.Token, HttpMethod.Post, a.RunPath("/reports"), Batch(2, oversized), HttpStatusCode.RequestEntityTooLarge),
            ("a NaN loss", a.Token, HttpMethod.Post, a.RunPath("/reports"), Batch(2, StepItem("\"NaN\"")), HttpStatusCode.BadRequest),
            ("an Infinity learning rate", a.Token, HttpMethod.Post, a.RunPath("/reports"), Batch(2, StepItem("1", "\"Infinity\"")), HttpStatusCode.BadRequest),
            ("a NaN validation loss", a.Token, HttpMethod.Post, a.RunPath("/reports"),
                Batch(2, """{"type":"evaluation","step":3,"val_loss":"NaN"}"""), HttpStatusCode.BadRequest),
            ("a checkpoint id reported twice", a.Token, HttpMethod.Post, a.RunPath("/reports"),
                Batch(2, """{"type":"checkpoint","id":"ckpt-0","step":3,"bytes":1}"""), HttpStatusCode.Conflict),
            ("an unknown field", a.Token, HttpMethod.Post, a.RunPath("/reports"),
                Batch(2, """{"type":"step","step":3,"loss":1,"learning_rate":0.001,"colour":"red"}"""), HttpStatusCode.BadRequest),
            ("not JSON", a.Token, HttpMethod.Post, a.RunPath("/reports"), "{batch: 2", HttpStatusCode.BadRequest),
            ("a split with a control character (a forged log line)", a.Token, HttpMethod.Post, a.RunPath("/reports"),
                Batch(2, """{"type":"finished","outcome":"completed","step":3,"split":"val\nRun run-b hands back"}"""),
                HttpStatusCode.BadRequest),
            ("a split longer than 100 characters", a.Token, HttpMethod.Post, a.RunPath("/reports"),
                Batch(2, $$"""{"type":"finished","outcome":"completed","step":3,"split":"{{new string('v', 101)}}"}"""),
                HttpStatusCode.BadRequest),
            ("a wrong protocol version at registration", Operator, HttpMethod.Post, "/api/v1/runs",
                registration.Replace("\"protocol_version\":1", "\"protocol_version\":2", StringComparison.Ordinal), HttpStatusCode.BadRequest),
            ("a wrong protocol version for a new session", a.Token, HttpMethod.Post, a.RunPath("/sessions"), """{"protocol_version":2}""", HttpStatusCode.BadRequest),
            ("a name taken", Operator, HttpMethod.Post, "/api/v1/runs", registration.Replace("run-c", "run-a", StringComparison.Ordinal), HttpStatusCode.Conflict),
            ("a name that is a path", Operator, HttpMethod.Post, "/api/v1/runs", registration.Replace("run-c", "../x", StringComparison.Ordinal), HttpStatusCode.BadRequest),
            // .NET's $ matches before a final newline: these passed as second, identical-looking names.
            ("a name ending in a newline", Operator, HttpMethod.Post, "/api/v1/runs",
                registration.Replace("run-c", "run-c\\n", StringComparison.Ordinal), HttpStatusCode.BadRequest),
            ("a checkpoint id ending in a newline", a.Token, HttpMethod.Post, a.RunPath("/reports"),
                Batch(2, """{"type":"checkpoint","id":"ckpt-0\n","step":3,"bytes":1}"""), HttpStatusCode.BadRequest),
            ("a split ending in a newline", a.Token, HttpMethod.Post, a.RunPath("/reports"),
                Batch(2, """{"type":"finished","outcome":"completed","step":3,"split":"val\n"}"""), HttpStatusCode.BadRequest),
        };
        async Task<string> Snapshot() =>
            string.Join('|', await Task.WhenAll(new[] { a, b }.Select(async t => (await operatorClient.GetStringAsync(t.RunPath()))
                + await operatorClient.GetStringAsync(t.RunPath("/checkpoints")))))
            + (await operatorClient.GetStringAsync("/api/commands"));
        string before = await Snapshot();
        foreach ((string name, string? token, HttpMethod method, string path, string? body, HttpStatusCode status) in cases)
        {
            using HttpClient client = host.CreateClient();
            if (token is not null)
            {
                client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
            }
            using var request = new HttpRequestMessage(method, path) { Content = body is null ? null : Json(body) };
            using HttpResponseMessage response = await client.SendAsync(request);
            string answer = await response.Content.ReadAsStringAsync();
            Assert.True(status == response.StatusCode, $"{name}: expected {(int)status}, got {(int)response.StatusCode}: {answer}");
            Assert.True(response.Content.Headers.ContentType?.MediaType == "application/problem+json", $"{name}: not a problem: {answer}");
            Assert.False(string.IsNullOrWhiteSpace(JsonDocument.Parse(answer).RootElement.GetProperty("detail").GetString()), name);
            Assert.True(before == await Snapshot(), $"{name} changed something");
        }
        Assert.False(Directory.Exists(Path.Combine(host.Folder, "run", "run-c")));
        Assert.False(Directory.Exists(Path.Combine(host.Folder, "x")));
    }

    [Fact]
    public async Task A_finished_run_hands_back_its_newest_checkpoint_with_that_states_own_evaluation_and_the_split_named()
    {
        using ControlPlaneFactory host = RemoteHost();
        using HttpClient operatorClient = host.CreateAuthorizedClient();
        ProtocolTrainer named = await ProtocolTrainer.RegisterAsync(operatorClient, host.CreateClient, "named");
        await named.ReportAsync([new EvaluationReport(0, 4.0), new CheckpointReport("ckpt-0", 0, 10), .. named.Steps(5, _ => 3.5),
            new EvaluationReport(5, 3.25), new CheckpointReport("ckpt-5", 5, 10), new FinishedReport(RunOutcomes.Completed, 5, "shard 3")]);
        HandedBackModel handedBack = RunRecordReader.ReadSummary(named.Attached.Folder)!.Final!.HandedBack!;
        Assert.Equal(new HandedBackModel("ckpt-5", 5, 3.25, "shard 3"), handedBack);
        Assert.Equal("val_loss 3.2500 on shard 3, model ckpt-5 (step 5)", handedBack.Description);
        JsonElement view = (await named.StateAsync()).GetProperty("handed_back");
        Assert.Equal(handedBack.Description, view.GetProperty("description").GetString());

        // Its last state saved but never evaluated: no loss is claimed for it (the earlier evaluation was another model's).
        ProtocolTrainer unevaluated = await ProtocolTrainer.RegisterAsync(operatorClient, host.CreateClient, "unevaluated");
        await unevaluated.ReportAsync([new EvaluationReport(0, 4.0, Accuracy: 0.1), new CheckpointReport("ckpt-0", 0, 10),
            .. unevaluated.Steps(5, _ => 3.5), new CheckpointReport("ckpt-5", 5, 10), new FinishedReport(RunOutcomes.Completed, 5)]);
        FinalFigures final = RunRecordReader.ReadSummary(unevaluated.Attached.Folder)!.Final!;
        Assert.Equal(("ckpt-5", null, null), (final.ModelCheckpoint, final.FinalValLoss, final.HandedBack));
        Assert.Null(final.FinalAccuracy); // nor the earlier evaluation's accuracy
        Assert.False((await unevaluated.StateAsync()).TryGetProperty("handed_back", out _));
    }

    [Fact]
    public async Task A_silent_trainer_is_lost_its_commands_fail_with_the_reason_and_it_comes_back_as_session_2_with_an_approval_applied_once()
    {
        using ControlPlaneFactory host = RemoteHost(lostAfter: "00:00:02");
        using HttpClient operatorClient = host.CreateAuthorizedClient();
        ProtocolTrainer trainer = await ProtocolTrainer.RegisterAsync(operatorClient, host.CreateClient, "night");
        await trainer.ReportAsync([new EvaluationReport(0, 4.0), new CheckpointReport("c0", 0, 10), .. trainer.Steps(100, _ => 2.6)]);
        await trainer.ReportAsync([new EvaluationReport(100, 2.5), new CheckpointReport("c100", 100, 10), .. trainer.Steps(50, _ => 5.0)]);

        // A rollback the policy sends to a person, approved through the API, applied by the trainer.
        RunHandle handle = host.Services.GetRequiredService<ActiveRun>().Current!;
        var proposal = new Proposal
        {
            Id = "test-rollback", Action = InterventionAction.RollbackCheckpoint, CheckpointId = "c100", Reason = "the loss spiked",
            Source = CommandSource.Agent, BasedOnStep = 150, BasedOnBranch = 0,
        };
        handle.Agent!.Reviews.Add(proposal, new GateDecision(Verdict.Review, "approval.required_for", "needs a person"), "summary", TimeSpan.FromHours(1));
        using (HttpResponseMessage approved = await operatorClient.PostAsync("/api/reviews/test-rollback/approve", Json("""{"reviewer":"ana"}""")))
        {
            Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        }
        CommandForTrainer rollback = Assert.Single(await trainer.PollAsync(), c => c.Command is LoadCheckpointCommand);
        await trainer.ReportAsync(new OutcomeReport(rollback.Id, true, "restored c100", 150));
        trainer.Step = 100;
        await trainer.ReportAsync([.. trainer.Steps(30, _ => 2.4), new EvaluationReport(130, 2.4), new CheckpointReport("c130-b1", 130, 10)]);
        Assert.Equal(1, (await trainer.StateAsync()).GetProperty("branch").GetInt32());

        // An approval and a command sent and never answered, one command never sent: then the trainer falls silent.
        handle.Agent.Reviews.Add(proposal with { Id = "test-reset", Action = InterventionAction.ResetLayer, CheckpointId = null,
            Layer = "hidden", BasedOnStep = 130, BasedOnBranch = 1 }, new GateDecision(Verdict.Review, "approval.required_for", "needs a person"),
            "summary", TimeSpan.FromHours(1));
        using (HttpResponseMessage approved = await operatorClient.PostAsync("/api/reviews/test-reset/approve", Json("""{"reviewer":"ana"}""")))
        {
            Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        }
        await operatorClient.PostAsync(trainer.RunPath("/commands"), Json("""{"kind":"evaluate"}"""));
        CommandForTrainer[] sent = await trainer.PollAsync();
        Assert.Equal([CommandKinds.ModelLayerOperation, CommandKinds.Evaluate], sent.Select(c => c.Command.Kind));
        CommandForTrainer unanswered = sent[1];
        await operatorClient.PostAsync(trainer.RunPath("/commands"), Json("""{"kind":"save_checkpoint"}"""));
        var silentSince = DateTime.UtcNow;
        await ApiFixture.Until(async () => (await trainer.StateAsync()).GetProperty("status").GetString() == RunOutcomes.Lost, "the run to be lost");
        Assert.InRange((DateTime.UtcNow - silentSince).TotalSeconds, 1.5, 6);
        JsonElement[] commands = [.. (await operatorClient.GetFromJsonAsync<JsonElement>("/api/commands")).EnumerateArray()];
        JsonElement evaluate = commands.Single(c => c.GetProperty("id").GetString() == unanswered.Id);
        Assert.Equal("failed", evaluate.GetProperty("status").GetString());
        Assert.Contains("fell silent", evaluate.GetProperty("reason").GetString());
        JsonElement save = commands.Single(c => c.GetProperty("kind").GetString() == CommandKinds.SaveCheckpoint);
        Assert.Equal("cancelled", save.GetProperty("status").GetString());
        Assert.Contains("fell silent", save.GetProperty("reason").GetString());
        using (HttpResponseMessage refused = await operatorClient.PostAsync(trainer.RunPath("/commands"), Json("""{"kind":"evaluate"}""")))
        {
            Assert.Equal(HttpStatusCode.Conflict, refused.StatusCode);
        }
        // run.json is written last, once the agent has settled what it saw before the end.
        await ApiFixture.Until(() => RunRecordReader.ReadSummary(trainer.Attached.Folder)!.Status == RunOutcomes.Lost,
            "run.json to say the run is lost");

        // Back from its last checkpoint, which holds the approved rollback but not the approved reset: session 2, the
        // rollback is not sent again, the reset is (once).
        RunAttached second = await trainer.StartSessionAsync();
        Assert.Equal(2, second.Session);
        Assert.Equal(new ResumeFrom("c130-b1", 130, 1, 2), second.ResumeFrom);
        CommandForTrainer[] owed = [];
        await ApiFixture.Until(async () => (owed = await trainer.PollAsync(waitSeconds: 0.5)).Length > 0, "the approval owed");
        CommandForTrainer reset = Assert.Single(owed);
        Assert.Equal(new ModelLayerOperationCommand("hidden"), reset.Command);
        await trainer.ReportAsync([new OutcomeReport(reset.Id, true, "re-initialised hidden", 130), .. trainer.Steps(20, _ => 2.3),
            new FinishedReport(RunOutcomes.Completed, 150)]);
        RunSummary summary = RunRecordReader.ReadSummary(trainer.Attached.Folder)!;
        Assert.Equal((RunOutcomes.Completed, 2, "c130-b1"), (summary.Status, summary.Session, summary.ResumedFrom));
        IReadOnlyList<RunEvent> events = RunRecordReader.ReadEvents(trainer.Attached.Folder);
        Assert.Single(events.OfType<CommandEvent>(), c => c.Kind == CommandKinds.LoadCheckpoint && c.Status == CommandStatus.Succeeded);
        Assert.Single(events.OfType<BranchCreatedEvent>());
        Assert.Single(events.OfType<CommandEvent>(), c => c.Kind == CommandKinds.ModelLayerOperation && c.Status == CommandStatus.Succeeded);
        AgentRun agent = host.Services.GetRequiredService<ActiveRun>().Current!.Agent!; // session 2's
        Assert.Equal(ReviewStatus.Applied, agent.Reviews.List().Single(r => r.ProposalId == "test-reset").Status);
    }
}
