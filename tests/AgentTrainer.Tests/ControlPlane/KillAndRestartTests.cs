using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AgentTrainer.Agents.Storage;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using Xunit;

namespace AgentTrainer.Tests.ControlPlane;

/// <summary>SIGKILL mid-run, then the same command again: the run resumes from its last checkpoint on
/// disk, the review queue and audit log are intact, and each approved command is in effect exactly once.</summary>
public sealed class KillAndRestartTests : IDisposable
{
    private readonly string _folder = TestFolders.Create("kill");
    private string Out => Path.Combine(_folder, "run");

    private string[] Arguments(params string[] extra) => Arguments(steps: "3000", checkpointEvery: "100", extra);

    private string[] Arguments(string steps, string checkpointEvery, string[] extra) =>
    [
        "run", "--task", "synthetic", "--steps", steps, "--threads", "1", "--checkpoint-every", checkpointEvery, "--agent", "rules",
        "--policy", "policies/supervised.yaml", "--lr", "0.001", "--schedule", "constant", "--out", Out, .. extra,
    ];

    [Fact]
    public async Task A_killed_run_resumes_from_its_last_disk_checkpoint_with_each_approved_command_applied_once()
    {
        string first, second;
        long pausedAt;
        using (var process = new AgentTrainerProcess(Arguments()))
        {
            using HttpClient api = await ProcessApi.ConnectAsync(process);
            await ProcessApi.UntilRunAsync(api, run => run.GetProperty("step").GetInt64() >= 250, "250 steps");
            await ProcessApi.CommandAsync(api, """{"kind":"pause"}""");
            pausedAt = (await api.GetFromJsonAsync<JsonElement>("/api/run")).GetProperty("step").GetInt64();

            // Two proposals wait for a person (as the supervisor queues them under this policy).
            var reviews = new ReviewQueue(Path.Combine(Out, AgentDatabase.FileName), TimeProvider.System);
            first = AddReview(reviews, pausedAt, "first");
            await Approve(api, first);
            await ProcessApi.CommandAsync(api, """{"kind":"save_checkpoint","to_disk":true}"""); // holds the first approval's effect
            second = AddReview(reviews, pausedAt, "second");
            await Approve(api, second); // applied after that checkpoint: lost with the kill, so owed again

            Assert.Equal(0.001 / 4, (await api.GetFromJsonAsync<JsonElement>("/api/run")).GetProperty("base_learning_rate").GetDouble(), 12);
            process.Signal("KILL");
            (int killed, _, _) = await process.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(137, killed);
        }
        Assert.Equal(RunOutcomes.Running, RunRecordReader.ReadSummary(Out)!.Status); // it never got to say it stopped
        int auditRowsBefore = AuditLog.Read(Path.Combine(Out, AgentDatabase.FileName)).Count;

        using (var process = new AgentTrainerProcess(Arguments("--start-paused")))
        {
            using HttpClient api = await ProcessApi.ConnectAsync(process);
            JsonElement run = await api.GetFromJsonAsync<JsonElement>("/api/run");
            Assert.Equal(2, run.GetProperty("session").GetInt32());
            Assert.Equal($"ckpt-{pausedAt:D6}-b0", run.GetProperty("resumed_from_checkpoint").GetString());
            Assert.Equal(pausedAt, run.GetProperty("step").GetInt64());

            // The second approval is re-applied (once); the first is in the checkpoint and is not.
            await ProcessApi.UntilRunAsync(api, r => r.GetProperty("base_learning_rate").GetDouble() <= 0.001 / 4 * 1.0000001, "the owed approval to be applied");
            await Task.Delay(1500); // two review-loop rounds: nothing more may happen
            run = await api.GetFromJsonAsync<JsonElement>("/api/run");
            Assert.Equal(0.001 / 4, run.GetProperty("base_learning_rate").GetDouble(), 12);
            JsonElement[] commands = [.. (await api.GetFromJsonAsync<JsonElement>("/api/commands")).EnumerateArray()
                .Where(c => c.GetProperty("id").GetString()!.StartsWith("cmd-s2-", StringComparison.Ordinal))];
            JsonElement reapplied = Assert.Single(commands);
            Assert.Equal(("human", "succeeded"), (reapplied.GetProperty("source").GetString(), reapplied.GetProperty("status").GetString()));

            JsonElement queue = await api.GetFromJsonAsync<JsonElement>("/api/reviews");
            // The two approved reviews (the agent may have queued proposals of its own meanwhile).
            JsonElement[] items = [.. queue.EnumerateArray().Where(i => i.GetProperty("proposal_id").GetString() is { } id && (id == first || id == second))];
            Assert.Equal(2, items.Length);
            Assert.All(items, item => Assert.Equal("applied", item.GetProperty("status").GetString()));
            Assert.Equal(reapplied.GetProperty("id").GetString(), items.Single(i => i.GetProperty("proposal_id").GetString() == second).GetProperty("command_id").GetString());
            Assert.StartsWith("cmd-0", items.Single(i => i.GetProperty("proposal_id").GetString() == first).GetProperty("command_id").GetString());

            await ProcessApi.CommandAsync(api, """{"kind":"resume"}""");
            (int exit, _, string error) = await process.WaitAsync(TimeSpan.FromMinutes(2));
            Assert.True(exit == 0, error);
        }

        RunSummary summary = RunRecordReader.ReadSummary(Out)!;
        Assert.Equal((RunOutcomes.Completed, 2, $"ckpt-{pausedAt:D6}-b0", 3000L), (summary.Status, summary.Session, summary.ResumedFrom, summary.Final!.Steps));
        Assert.True(AuditLog.Read(Path.Combine(Out, AgentDatabase.FileName)).Count > auditRowsBefore); // the first session's entries are kept
        (IReadOnlyList<Core.Metrics.StepMetrics> steps, _) = RunRecordReader.ReadMetrics(Out);
        Assert.Equal(3000, steps.Select(s => s.Step).Distinct().Count()); // every step recorded, none lost to the kill
    }

    [Fact]
    public async Task After_a_kill_that_rewinds_the_run_each_approval_is_applied_again_or_refused_saying_why_and_counts_span_sessions()
    {
        // Only step 0 reaches the disk (no periodic checkpoint, and no evaluation to find a new best before the end):
        // the restart goes back to the start, far behind what the approver saw.
        string[] arguments = Arguments(steps: "3000", checkpointEvery: "100000", ["--eval-every", "100000", "--fault", "lr-spike:step=20,factor=50"]);
        string halve, rollback, snapshot;
        long pausedAt;
        using (var process = new AgentTrainerProcess(arguments))
        {
            using HttpClient api = await ProcessApi.ConnectAsync(process);
            await ProcessApi.UntilRunAsync(api, run => run.GetProperty("step").GetInt64() >= 250, "250 steps");
            await ProcessApi.CommandAsync(api, """{"kind":"pause"}""");
            pausedAt = (await api.GetFromJsonAsync<JsonElement>("/api/run")).GetProperty("step").GetInt64();
            await ProcessApi.CommandAsync(api, """{"kind":"save_checkpoint","to_disk":false}""");
            await ProcessApi.CommandAsync(api, """{"kind":"save_checkpoint","to_disk":false}""");
            var reviews = new ReviewQueue(Path.Combine(Out, AgentDatabase.FileName), TimeProvider.System);
            halve = AddReview(reviews, pausedAt, "halve");
            await Approve(api, halve);
            // The oldest snapshot in memory (which one depends on how far the run got before the pause took effect).
            snapshot = (await api.GetFromJsonAsync<JsonElement>("/api/checkpoints")).EnumerateArray()
                .Where(c => c.GetProperty("step").GetInt64() > 0).MinBy(c => c.GetProperty("step").GetInt64())
                .GetProperty("id").GetString()!;
            rollback = AddReview(reviews, pausedAt, "rollback", InterventionAction.RollbackCheckpoint, snapshot);
            await Approve(api, rollback);
            process.Signal("KILL");
            await process.WaitAsync(TimeSpan.FromSeconds(30));
        }

        using (var process = new AgentTrainerProcess([.. arguments, "--start-paused"]))
        {
            using HttpClient api = await ProcessApi.ConnectAsync(process);
            JsonElement run = await api.GetFromJsonAsync<JsonElement>("/api/run");
            Assert.Equal((2, "ckpt-000000-b0", 0L), (run.GetProperty("session").GetInt32(), run.GetProperty("resumed_from_checkpoint").GetString(),
                run.GetProperty("step").GetInt64()));
            JsonElement[] items = [];
            await ProcessApi.UntilAsync(async () =>
            {
                items = [.. (await api.GetFromJsonAsync<JsonElement>("/api/reviews")).EnumerateArray()
                    .Where(i => i.GetProperty("proposal_id").GetString() is { } id && (id == halve || id == rollback))];
                return items.All(i => i.GetProperty("status").GetString() is "applied" or "expired");
            }, "both approvals to be settled");
            JsonElement halved = items.Single(i => i.GetProperty("proposal_id").GetString() == halve);
            JsonElement refused = items.Single(i => i.GetProperty("proposal_id").GetString() == rollback);
            // Applied again, though the run is now 250 steps behind the step it was approved at...
            Assert.Equal("applied", halved.GetProperty("status").GetString());
            Assert.StartsWith("cmd-s2-", halved.GetProperty("command_id").GetString(), StringComparison.Ordinal);
            Assert.Equal(0.001 / 2, (await api.GetFromJsonAsync<JsonElement>("/api/run")).GetProperty("base_learning_rate").GetDouble(), 12); // no second spike
            // ...or refused, saying why: never lost without a word.
            Assert.Equal("expired", refused.GetProperty("status").GetString());
            string why = refused.GetProperty("outcome").GetString()!;
            Assert.Contains($"approved before the run was restarted, but cannot be applied now: no checkpoint '{snapshot}'", why,
                StringComparison.Ordinal);
            Assert.Contains("kept in memory only", why, StringComparison.Ordinal);

            await ProcessApi.CommandAsync(api, """{"kind":"resume"}""");
            (int exit, _, string error) = await process.WaitAsync(TimeSpan.FromMinutes(2));
            Assert.True(exit == 0, error);
        }

        RunSummary summary = RunRecordReader.ReadSummary(Out)!;
        Assert.Single(RunRecordReader.ReadEvents(Out).OfType<FaultInjectedEvent>()); // once per run, not once per session
        Assert.Equal(2, summary.Final!.CommandsByKind[CommandKinds.SaveCheckpoint]); // both from the first session
        Assert.Equal(1, summary.Final.CommandsByKind[CommandKinds.LoadCheckpoint]);
        (IReadOnlyList<Core.Metrics.StepMetrics> steps, _) = RunRecordReader.ReadMetrics(Out);
        Assert.Equal(steps.Count, steps.Select(s => (s.Step, s.Branch)).Distinct().Count()); // each step once, none repeated by the resume
    }

    private static string AddReview(ReviewQueue reviews, long step, string name, InterventionAction action = InterventionAction.HalveLearningRate,
        string? checkpoint = null)
    {
        var proposal = new Proposal
        {
            Id = $"kill-{name}", Action = action, Reason = "test", Source = CommandSource.Agent,
            BasedOnStep = step, BasedOnBranch = 0, CheckpointId = checkpoint,
        };
        reviews.Add(proposal, new GateDecision(Verdict.Review, "approval.required_for", "needs a person"), "summary", TimeSpan.FromHours(1));
        return proposal.Id;
    }

    private static async Task Approve(HttpClient api, string proposalId)
    {
        using HttpResponseMessage response = await api.PostAsync($"/api/reviews/{proposalId}/approve",
            new StringContent("""{"reviewer":"kim"}""", System.Text.Encoding.UTF8, "application/json"));
        response.EnsureSuccessStatusCode();
        await ProcessApi.UntilAsync(async () =>
        {
            JsonElement item = (await api.GetFromJsonAsync<JsonElement>("/api/reviews")).EnumerateArray().Single(i => i.GetProperty("proposal_id").GetString() == proposalId);
            string status = item.GetProperty("status").GetString()!;
            Assert.False(status is ReviewStatus.Expired or ReviewStatus.Failed, $"{proposalId} is {status}: {item}");
            return item.TryGetProperty("command_id", out JsonElement command)
                && (await api.GetFromJsonAsync<JsonElement>($"/api/commands/{command.GetString()}")).GetProperty("status").GetString() == "succeeded";
        }, $"{proposalId} to be applied");
    }

    public void Dispose() => TestFolders.Delete(_folder);
}
