using System.Globalization;
using System.Text.Json.Nodes;

namespace AgentTrainer.Tests;

/// <summary>The shipped scenario suite, reduced (5% of the steps, one seed, a smaller corpus and model for
/// char-lm), run by the real command with real child processes, against four contestants: no agent, the
/// rules agent, a replay of the rules agent's decisions, and a model behind the OpenAI wire format on
/// loopback. The report must agree with the run records it came from. Run in the reproducible variant
/// (decisions with the run paused, one thread each), so a replay and a resumed suite match bit for bit.</summary>
public sealed class EvalSuiteTests : IAsyncLifetime
{
    private const string SmallCorpus = "/usr/share/games/fortunes/computers";
    private readonly string _folder = TestFolders.Create("eval");
    private LoopbackOpenAIServer _model = null!;
    private string _contestants = "";

    private string Out => Path.Combine(_folder, "out");

    public async Task InitializeAsync()
    {
        _model = await LoopbackOpenAIServer.StartAsync();
        _contestants = Path.Combine(_folder, "contestants.yaml");
        File.WriteAllText(_contestants, $"""
            baseline: none
            contestants:
              - name: none
                agent: none
              - name: rules
                agent: rules
                policy: policies/unattended.yaml
              - name: rules-replay
                agent: replay
                replay_of: rules
                policy: policies/unattended.yaml
              - name: loopback
                agent: openai
                policy: policies/unattended.yaml
                prompt: prompts/system.md
                settings:
                  Agent:OpenAI:BaseUrl: {_model.BaseUrl}
                  Agent:OpenAI:Model: loopback-model
                  Agent:Resilience:MaxRetries: "0"
            """);
    }

    public async Task DisposeAsync()
    {
        await _model.DisposeAsync();
        TestFolders.Delete(_folder);
    }

    private async Task<(int ExitCode, string Output, string Error)> EvalAsync(params string[] more)
    {
        using var process = new AgentTrainerProcess(
            ["eval", "--contestants", _contestants, "--out", Out, "--step-scale", "0.05", "--seeds", "1", "--jobs", "2",
                "--decisions", "pause", "--threads-per-run", "1", "--set", $"Training:Data:TextPath={SmallCorpus}", "--set", "Training:CharLm:EmbeddingSize=64", .. more],
            new Dictionary<string, string> { ["OPENAI_API_KEY"] = "sk-loopback" });
        return await process.WaitAsync(TimeSpan.FromMinutes(15));
    }

    [Fact]
    public async Task TheReducedSuite_WritesAReport_ThatAgreesWithTheRunRecords_AndResumes()
    {
        (int exit, string output, string error) = await EvalAsync();
        Assert.True(exit == 0, output + error);

        string[] scenarios = [.. Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "eval", "scenarios"), "*.yaml").Select(Path.GetFileNameWithoutExtension).Order()!];
        Assert.Equal(17, scenarios.Length);
        List<Dictionary<string, string>> rows = ReadCsv(Path.Combine(Out, "results.csv"));
        // every scenario x contestant, and the oracle's grids: three lrs on three healthy ones, four on 13 and 14
        Assert.Equal((17 * 4) + (3 * 3) + (2 * 4), rows.Count);
        Assert.All(rows, row => Assert.Contains(row["status"], new[] { "completed", "diverged" }));
        Assert.All(rows, row => Assert.Equal("0", row["rollbacks_to_worse"])); // the gate's invariant, seen in the records

        // Every figure in results.csv is what the run's own records say.
        foreach (Dictionary<string, string> row in rows)
        {
            string folder = row["folder"];
            JsonNode run = JsonNode.Parse(File.ReadAllText(Path.Combine(folder, "run.json")))!;
            Assert.Equal((double?)run["final"]!["final_val_loss"], Number(row["final_val_loss"]));
            Assert.Equal(File.ReadLines(Path.Combine(folder, "metrics.jsonl")).Count(l => l.Contains("\"kind\":\"train\"", StringComparison.Ordinal)),
                int.Parse(row["trained_steps"], CultureInfo.InvariantCulture));
            // Each applied proposal's own command (not the lr a rollback carries over: that is part of the rollback).
            JsonNode[] events = [.. File.ReadLines(Path.Combine(folder, "events.jsonl")).Select(l => JsonNode.Parse(l)!)];
            HashSet<string?> proposed = [.. events.Where(e => (string?)e["type"] == "proposal").Select(e => (string?)e["command_id"])];
            int changes = events.Count(e => (string?)e["type"] == "command" && (string?)e["status"] == "succeeded"
                && (string?)e["source"] is "agent" or "guard" && proposed.Contains((string?)e["id"]));
            Assert.Equal(changes, int.Parse(row["interventions"], CultureInfo.InvariantCulture));
            if (run["sections"]?["agent"] is JsonObject agent && (string)agent["provider"]! != "none")
            {
                Assert.Equal((int)agent["decisions"]!, int.Parse(row["decisions"], CultureInfo.InvariantCulture));
                Assert.Equal((int)agent["refused"]!, int.Parse(row["refused"], CultureInfo.InvariantCulture));
                Assert.Equal((int)agent["fallbacks"]!, int.Parse(row["fallbacks"], CultureInfo.InvariantCulture));
            }
            Assert.True(File.Exists(Path.Combine(folder, "..", "settings.json"))); // the harness's files beside the run's folder
            Assert.False(Directory.Exists(Path.Combine(folder, "checkpoints")));
        }

        // Replaying the rules agent's recorded decisions reproduces its runs exactly.
        foreach (string scenario in scenarios)
        {
            Dictionary<string, string> rules = rows.Single(r => r["scenario"] == scenario && r["contestant"] == "rules");
            Dictionary<string, string> replay = rows.Single(r => r["scenario"] == scenario && r["contestant"] == "rules-replay");
            Assert.Equal((rules["final_val_loss"], rules["trained_steps"], rules["interventions"]), (replay["final_val_loss"], replay["trained_steps"], replay["interventions"]));
        }

        // The model contestant really called the model: its calls and tokens are the server's count.
        Dictionary<string, string>[] loopback = [.. rows.Where(r => r["contestant"] == "loopback")];
        int calls = loopback.Sum(r => int.Parse(r["model_calls"], CultureInfo.InvariantCulture));
        Assert.True(calls > 8, $"{calls} model calls");
        Assert.Equal(_model.Requests.Count, calls);
        Assert.Equal(321L * calls, loopback.Sum(r => long.Parse(r["input_tokens"], CultureInfo.InvariantCulture)));
        Assert.All(loopback, r => Assert.True(Number(r["mean_latency_ms"]) > 0));

        // report.md: one verdict per scenario, naming the contestant with the lowest mean final loss.
        string report = File.ReadAllText(Path.Combine(Out, "report.md"));
        foreach (string scenario in scenarios)
        {
            string best = rows.Where(r => r["scenario"] == scenario && !r["contestant"].StartsWith("oracle-", StringComparison.Ordinal))
                .OrderBy(r => Number(r["final_val_loss"])).ThenBy(r => Order(r["contestant"])).First()["contestant"];
            Assert.Contains($"- {scenario}: best is **{best}** (final val loss {Number(rows.First(r => r["scenario"] == scenario && r["contestant"] == best)["final_val_loss"])!.Value:F4}", report, StringComparison.Ordinal);
            Assert.Contains($"## {scenario}", report, StringComparison.Ordinal);
            foreach (Dictionary<string, string> row in rows.Where(r => r["scenario"] == scenario))
            {
                Assert.Contains($"| {row["contestant"]} | {Number(row["final_val_loss"])!.Value:F4} |", report, StringComparison.Ordinal);
            }
        }
        string[] plots = [.. Directory.GetFiles(Path.Combine(Out, "plots"), "*.png").Select(Path.GetFileName).Order()!];
        Assert.Equal([.. scenarios.Select(s => s + ".png").Append("headline.png").Order()], plots);
        Assert.All(plots, plot =>
        {
            byte[] png = File.ReadAllBytes(Path.Combine(Out, "plots", plot));
            Assert.True(png.Length > 10_000 && png.AsSpan(0, 8).SequenceEqual(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }), plot);
        });

        // Run again: everything is reused and the figures are the same.
        string csv = File.ReadAllText(Path.Combine(Out, "results.csv"));
        (exit, output, error) = await EvalAsync();
        Assert.True(exit == 0, output + error);
        Assert.Contains($"{rows.Count} runs", output, StringComparison.Ordinal);
        Assert.Contains($"{rows.Count} already done", output, StringComparison.Ordinal);
        Assert.DoesNotContain("[", output, StringComparison.Ordinal);
        Assert.Equal(csv, File.ReadAllText(Path.Combine(Out, "results.csv")));

        // A run cut short (no completion record) is the only one run again, and comes out the same.
        string cut = Path.Combine(Out, "runs", "03-fashion-corrupt-batches", "rules", "seed-1");
        File.Delete(Path.Combine(cut, "eval-run.json"));
        (exit, output, error) = await EvalAsync();
        Assert.True(exit == 0, output + error);
        Assert.Contains($"{rows.Count - 1} already done", output, StringComparison.Ordinal);
        Assert.Single(output.Split('\n'), line => line.StartsWith('['));
        Assert.Contains("03-fashion-corrupt-batches/rules/seed-1", output, StringComparison.Ordinal);
        string[] clocks = ["mean_latency_ms", "max_latency_ms", "wall_seconds"]; // timings: all else must match
        Assert.Equal(
            rows.Select(r => r.Where(p => !clocks.Contains(p.Key))),
            ReadCsv(Path.Combine(Out, "results.csv")).Select(r => r.Where(p => !clocks.Contains(p.Key))));
    }

    [Fact]
    public async Task A_generated_suite_runs_each_faulty_run_beside_its_twin_and_reports_figures_per_family()
    {
        using var process = new AgentTrainerProcess(
            ["eval", "--generate", "4", "--family", "eval/families/ci.yaml", "--seed", "3", "--out", Out]);
        (int exit, string output, string error) = await process.WaitAsync(TimeSpan.FromMinutes(5));
        Assert.True(exit == 0, output + error);

        List<Dictionary<string, string>> rows = ReadCsv(Path.Combine(Out, "results.csv"));
        string[] faulty = [.. rows.Where(r => r["contestant"] == "no-fault").Select(r => r["scenario"])];
        Assert.NotEmpty(faulty);
        Assert.All(faulty, scenario => Assert.StartsWith("lr-spike-", scenario, StringComparison.Ordinal));
        Assert.Equal(4, rows.Count(r => r["contestant"] == "rules"));
        string rulesRun = Directory.GetFiles(Path.Combine(Out, "runs", faulty[0], "rules"), "settings.json",
            SearchOption.AllDirectories).Single();
        JsonNode settings = JsonNode.Parse(File.ReadAllText(rulesRun))!;
        Assert.False((bool)settings["Agent"]!["PauseWhileDeciding"]!); // as a plain run decides

        List<Dictionary<string, string>> families = ReadCsv(Path.Combine(Out, "families.csv"));
        Dictionary<string, string> all = families.Single(f => f["family"] == "all");
        Assert.Equal("4", all["runs"]);
        Assert.Equal(rows.Count(r => r["contestant"] == "rules" && !faulty.Contains(r["scenario"])).ToString(
            CultureInfo.InvariantCulture), all["healthy"]);
        string report = File.ReadAllText(Path.Combine(Out, "report.md"));
        Assert.Contains("## Families", report, StringComparison.Ordinal);
        Assert.Contains("decisions asynchronous", report, StringComparison.Ordinal);
        Assert.Contains($"- all (rules, 4 runs): repair rate", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ABadSuite_IsRefusedWithEveryProblem_AndNothingRuns()
    {
        string scenarios = Directory.CreateDirectory(Path.Combine(_folder, "scenarios")).FullName;
        File.WriteAllText(Path.Combine(scenarios, "typo.yaml"), "task: char-lm\nsteps: 100\nseeds: [1]\nlearning_rate: 1e-3\nexpect: keep\nlearnig_rate: 2\n");
        File.WriteAllText(Path.Combine(scenarios, "fault.yaml"), "task: fashion-mnist\nsteps: 100\nseeds: [1]\nlearning_rate: 1e-3\nexpect: improve\nfaults: [\"zero-layer:step=50\"]\n");

        (int exit, string output, string error) = await EvalAsync("--scenarios", scenarios);

        Assert.Equal(2, exit);
        Assert.Contains("typo.yaml:6:", error, StringComparison.Ordinal);
        Assert.Contains("learnig_rate", error, StringComparison.Ordinal);
        Assert.Contains("fault.yaml: faults: 'zero-layer:step=50': layer must name a module", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Out), output);

        (exit, _, error) = await EvalAsync("--set", "Training:Seed=9");
        Assert.Equal(2, exit);
        Assert.Contains("'Training:Seed' is set by the eval harness itself", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Out));
    }

    private static int Order(string contestant) => Array.IndexOf(["none", "rules", "rules-replay", "loopback"], contestant);

    private static double? Number(string text) => text.Length == 0 ? null : double.Parse(text, CultureInfo.InvariantCulture);

    private static List<Dictionary<string, string>> ReadCsv(string path)
    {
        string[] lines = File.ReadAllLines(path);
        string[] header = lines[0].Split(',');
        return [.. lines.Skip(1).Select(line => header.Zip(line.Split(',')).ToDictionary(pair => pair.First, pair => pair.Second))];
    }
}
