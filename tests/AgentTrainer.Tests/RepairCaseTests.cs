using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentTrainer.Tests.ControlPlane;

namespace AgentTrainer.Tests;

/// <summary>The runs a new user starts with the README's commands, through the real CLI as a process under the
/// default settings: each must end repaired, within 5% of the same run without its fault and clearly below the
/// run with no agent.</summary>
public sealed class RepairCaseTests : IDisposable
{
    private const double WithinNoFault = 1.05;
    private readonly string _folder = TestFolders.Create("repair");

    public void Dispose() => TestFolders.Delete(_folder);

    private static double FinalValLoss(string folder) =>
        (double)JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "run.json")))!["final"]!["final_val_loss"]!;

    private async Task<double> RunAsync(string name, params string[] arguments)
    {
        string folder = Path.Combine(_folder, name);
        (int exit, string output, string error) = await AgentTrainerProcess.RunAsync(
            ["run", "--api", "false", "--out", folder, .. arguments]);
        Assert.True(exit == 0, output + error);
        return FinalValLoss(folder);
    }

    [Fact]
    public async Task A_char_lm_run_whose_lr_jumps_50x_halfway_is_rolled_back_to_before_the_jump_and_repaired()
    {
        string[] run = ["--task", "char-lm", "--steps", "300"];
        const string Spike = "lr-spike:step=150,factor=50";

        double repaired = await RunAsync("rules", [.. run, "--fault", Spike]);
        double alone = await RunAsync("none", [.. run, "--fault", Spike, "--agent", "none"]);
        double healthy = await RunAsync("no-fault", [.. run, "--agent", "none"]);

        Assert.True(repaired <= healthy * WithinNoFault, $"repaired {repaired}, without the fault {healthy}");
        Assert.True(repaired < alone * 0.97, $"repaired {repaired}, no agent {alone}");
        string decisions = File.ReadAllText(Path.Combine(_folder, "rules", "decisions.jsonl"));
        Assert.Contains("\"tool\":\"rollback_checkpoint\"", decisions, StringComparison.Ordinal);
        Assert.Contains("with no command or schedule behind it", decisions, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Under_supervision_the_rollback_waits_unreplaced_a_person_approves_it_and_it_is_applied_once()
    {
        string folder = Path.Combine(_folder, "supervised");
        string[] run = ["--task", "fashion-mnist", "--steps", "3000", "--threads", "1"];
        using var process = new AgentTrainerProcess(
            ["run", "--out", folder, "--policy", "policies/supervised.yaml", .. run, "--fault", "lr-spike:step=300,factor=50"]);
        using HttpClient api = await ProcessApi.ConnectAsync(process);

        JsonElement waiting = default;
        await ProcessApi.UntilAsync(async () =>
        {
            JsonElement[] items = [.. (await api.GetFromJsonAsync<JsonElement>("/api/reviews?status=awaiting_review"))
                .EnumerateArray()];
            waiting = items.FirstOrDefault(i => i.GetProperty("action").GetString() == "rollback_checkpoint");
            return waiting.ValueKind == JsonValueKind.Object;
        }, "a rollback waiting for a person", TimeSpan.FromMinutes(2));
        // The person reads it while the run goes on: the agent's later ideas do not replace it (approval.supersede).
        await Task.Delay(1000);
        JsonElement stillWaiting = (await api.GetFromJsonAsync<JsonElement>("/api/reviews?status=awaiting_review"))
            .EnumerateArray().Single();
        Assert.Equal(waiting.GetProperty("proposal_id").GetString(), stillWaiting.GetProperty("proposal_id").GetString());

        string id = waiting.GetProperty("proposal_id").GetString()!;
        using HttpResponseMessage approved = await api.PostAsync($"/api/reviews/{id}/approve",
            new StringContent("""{"reviewer":"dana","comment":"the lr spike is the cause"}""", Encoding.UTF8, "application/json"));
        Assert.True(approved.IsSuccessStatusCode, await approved.Content.ReadAsStringAsync());
        (int exit, string output, string error) = await process.WaitAsync(TimeSpan.FromMinutes(3));
        Assert.True(exit == 0, output + error);

        double repaired = FinalValLoss(folder);
        double alone = await RunAsync("none", [.. run, "--fault", "lr-spike:step=300,factor=50", "--agent", "none"]);
        double healthy = await RunAsync("no-fault", [.. run, "--agent", "none"]);
        Assert.True(repaired <= healthy * WithinNoFault, $"repaired {repaired}, without the fault {healthy}");
        Assert.True(repaired < alone * 0.97, $"repaired {repaired}, no agent {alone}");

        JsonNode[] events = [.. File.ReadLines(Path.Combine(folder, "events.jsonl")).Select(l => JsonNode.Parse(l)!)];
        Assert.Single(events, e => (string?)e["type"] == "command" && (string?)e["kind"] == "load_checkpoint"
            && (string?)e["status"] == "succeeded");
        Assert.Contains(events, e => (string?)e["type"] == "review" && (string?)e["status"] == "applied");
    }
}
