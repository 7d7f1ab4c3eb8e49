using System.Net.Http.Json;
using System.Text.Json;
using AgentTrainer.Agents.Storage;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using Xunit;

namespace AgentTrainer.Tests.ControlPlane;

/// <summary><c>agent-trainer review ...</c> and <c>agent-trainer command ...</c> against a running host, as processes.</summary>
public sealed class CommandLineOverApiTests : IDisposable
{
    private readonly string _folder = TestFolders.Create("cli-api");

    [Fact]
    public async Task Review_and_command_talk_to_the_running_host_with_the_token()
    {
        string run = Path.Combine(_folder, "run");
        using var host = new AgentTrainerProcess(["run", "--task", "synthetic", "--steps", "100000", "--threads", "1", "--start-paused",
            "--policy", "policies/supervised.yaml", "--out", run]);
        Uri url = await host.ApiAddressAsync();
        using var http = new HttpClient { BaseAddress = url };
        await ApiFixture.Until(async () => (await http.GetAsync("/api/run")).IsSuccessStatusCode, "the run to be assembled");
        var token = new Dictionary<string, string> { ["AGENTTRAINER_TOKEN"] = AgentTrainerProcess.Token };
        string[] at = ["--url", url.ToString()];

        var proposal = new Proposal
        {
            Id = "cli-proposal", Action = InterventionAction.HalveLearningRate, Reason = "from the test", Source = CommandSource.Agent, BasedOnStep = 0, BasedOnBranch = 0,
        };
        new ReviewQueue(Path.Combine(run, AgentDatabase.FileName), TimeProvider.System)
            .Add(proposal, new GateDecision(Verdict.Review, "approval.required_for", "needs a person"), "summary", TimeSpan.FromHours(1));

        (int listed, string list, _) = await AgentTrainerProcess.RunAsync(["review", "list", "--status", "awaiting_review", .. at], token);
        Assert.Equal(0, listed);
        Assert.Contains("cli-proposal  awaiting_review", list);

        (int approved, string approval, string approveError) = await AgentTrainerProcess.RunAsync(
            ["review", "approve", "cli-proposal", "--reviewer", "lee", "--comment", "fine", .. at], token);
        Assert.True(approved == 0, approveError);
        Assert.Contains("cli-proposal approved.", approval);
        await ApiFixture.Until(async () => (await http.GetFromJsonAsync<JsonElement>("/api/run")).GetProperty("base_learning_rate").GetDouble() == 0.0005,
            "the approval to be applied");

        (int set, string setOutput, _) = await AgentTrainerProcess.RunAsync(["command", "set-lr", "0.002", .. at], token);
        Assert.Equal(0, set);
        Assert.Matches(@"cmd-\d+ update_optimizer: succeeded — lr 0\.0005 -> 0\.002", setOutput);

        using (var watch = new AgentTrainerProcess(["watch", .. at]))
        {
            await ApiFixture.Until(async () => (await http.GetFromJsonAsync<JsonElement>("/api/run")).GetProperty("stream").GetProperty("clients").GetInt32() == 1,
                "watch to connect");
            (int evaluated, _, _) = await AgentTrainerProcess.RunAsync(["command", "evaluate", .. at], token);
            Assert.Equal(0, evaluated);
            await ApiFixture.Until(() => watch.Output.Contains("eval  step 0 branch 0 val_loss", StringComparison.Ordinal)
                && watch.Output.Contains("evaluate from human succeeded", StringComparison.Ordinal), "watch to show the evaluation");
        }

        (int unknown, _, string unknownError) = await AgentTrainerProcess.RunAsync(["command", "rollback", "ckpt-424242-b9", .. at], token);
        Assert.Equal(2, unknown);
        Assert.Contains("400 Bad Request: checkpoint_id: no checkpoint 'ckpt-424242-b9'", unknownError);

        (int again, _, string againError) = await AgentTrainerProcess.RunAsync(["review", "reject", "cli-proposal", .. at], token);
        Assert.Equal(2, again);
        Assert.Contains("409 Conflict", againError);

        var noToken = new Dictionary<string, string> { ["XDG_CONFIG_HOME"] = Path.Combine(_folder, "empty-config") };
        (int refused, _, string refusedError) = await AgentTrainerProcess.RunAsync(["command", "pause", .. at], noToken);
        Assert.Equal(2, refused);
        Assert.Contains("no API token", refusedError);

        (int wrong, _, string wrongError) = await AgentTrainerProcess.RunAsync(["command", "pause", "--token", "wrong-token-0123456789", .. at]);
        Assert.Equal(2, wrong);
        Assert.Contains("401 Unauthorized", wrongError);
        Assert.False((await http.GetFromJsonAsync<JsonElement>("/api/run")).GetProperty("status").GetString() == "running"); // still paused: nothing got through

        (int stopped, _, _) = await AgentTrainerProcess.RunAsync(["command", "stop", .. at], token);
        Assert.Equal(0, stopped);
        (int exit, _, string error) = await host.WaitAsync(TimeSpan.FromMinutes(1));
        Assert.True(exit == 0, error);
    }

    [Fact]
    public async Task With_no_host_the_command_says_so()
    {
        (int exit, _, string error) = await AgentTrainerProcess.RunAsync(["command", "pause", "--url", "http://127.0.0.1:9", "--token", "any-token-0123456789"]);
        Assert.Equal(2, exit);
        Assert.Contains("no host answers at http://127.0.0.1:9/", error);
    }

    public void Dispose() => TestFolders.Delete(_folder);
}
