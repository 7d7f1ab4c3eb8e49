using System.Text.Json.Nodes;
using AgentTrainer.App.Hosting;
using AgentTrainer.Core.Records;

namespace AgentTrainer.Tests;

/// <summary>The agent-trainer command as users run it: a child process, its exit code, its files.</summary>
public sealed class CommandLineTests : IDisposable
{
    private readonly string _out = TestFolders.Create("cli");

    public void Dispose() => TestFolders.Delete(_out);

    private static JsonNode ReadJson(string path) => JsonNode.Parse(File.ReadAllText(path))!;

    private static JsonNode[] ReadLines(string path) => [.. File.ReadAllLines(path).Select(line => JsonNode.Parse(line)!)];

    [Fact]
    public async Task Run_WritesTheRunRecords_AndLogsPlainLinesWhenNotOnATerminal()
    {
        (int exit, string output, string error) = await AgentTrainerProcess.RunAsync(
            ["run", "--task", "synthetic", "--steps", "120", "--eval-every", "40", "--threads", "1", "--out", _out,
             "--fault", "lr-spike:step=60,factor=10", "--pause-while-deciding", "true"]);
        Assert.True(exit == ExitCodes.Success, output + error);
        Assert.Contains("step 120/120", output, StringComparison.Ordinal);
        Assert.Contains("fault at step 60: lr-spike", output, StringComparison.Ordinal);

        JsonNode run = ReadJson(Path.Combine(_out, "run.json"));
        Assert.Equal("completed", (string)run["status"]!);
        Assert.Equal("synthetic", (string)run["configuration"]!["task"]!);
        Assert.Equal(1, (int)run["environment"]!["threads"]!);
        JsonNode final = run["final"]!;
        Assert.Equal(120, (long)final["steps"]!);
        Assert.True((double)final["final_val_loss"]! < (double)final["initial_val_loss"]!);
        Assert.InRange((double)final["final_accuracy"]!, 0.25, 1.0);
        // The console names the model handed back in the words every other place uses, from run.json's figures.
        HandedBackModel handedBack = RunRecordReader.ReadSummary(_out)!.Final!.HandedBack!;
        Assert.Equal(((string)final["model_checkpoint"]!, (long?)final["model_step"], EvaluationSplits.WholeHeldOut),
            (handedBack.Checkpoint, handedBack.Step, handedBack.Split));
        Assert.Contains($"hands back {handedBack.Description}", output, StringComparison.Ordinal);
        JsonNode agent = run["sections"]!["agent"]!; // the default agent: rules under unattended.yaml
        Assert.Equal(("rules", "unattended"), ((string)agent["provider"]!, (string)agent["policy"]!));
        Assert.Equal(3, (int)agent["decisions"]!); // after steps 50 and 100, and 10 steps after the lr jumped (70)
        Assert.True(File.Exists(Path.Combine(_out, "decisions.jsonl")));

        JsonNode[] metrics = ReadLines(Path.Combine(_out, "metrics.jsonl"));
        Assert.Equal(120, metrics.Count(line => (string)line["kind"]! == "train"));
        Assert.Equal([0L, 40, 80, 120], metrics.Where(line => (string)line["kind"]! == "eval").Select(line => (long)line["step"]!));
        Assert.All(metrics.Where(line => (string)line["kind"]! == "train"), line => Assert.NotNull(line["grad_norm"]));

        string[] events = [.. ReadLines(Path.Combine(_out, "events.jsonl")).Select(line => (string)line["type"]!)];
        Assert.Equal("run_started", events[0]);
        Assert.Equal("run_finished", events[^1]);
        Assert.Contains("fault_injected", events);
        Assert.True(File.Exists(Path.Combine(_out, "checkpoints", "ckpt-000120-b0.ckpt")));
    }

    [Fact]
    public async Task Settings_ComeFromEnvironment_UnlessTheCommandLineSaysOtherwise()
    {
        var environment = new Dictionary<string, string> { ["AGENTTRAINER_Training__Steps"] = "15", ["AGENTTRAINER_Training__Seed"] = "7" };
        (int exit, _, string error) = await AgentTrainerProcess.RunAsync(["run", "--task", "synthetic", "--seed", "8", "--out", _out], environment);
        Assert.True(exit == 0, error);
        JsonNode run = ReadJson(Path.Combine(_out, "run.json"));
        Assert.Equal(15, (int)run["configuration"]!["steps"]!);
        Assert.Equal(8, (int)run["seed"]!);
    }

    [Fact]
    public async Task InvalidSettings_ExitWithCode2_NameTheOptions_AndWriteNothing()
    {
        string folder = Path.Combine(_out, "never");
        (int exit, _, string error) = await AgentTrainerProcess.RunAsync(["run", "--optimizer", "adam", "--lr", "-1", "--out", folder]);
        Assert.Equal(ExitCodes.InvalidOptions, exit);
        Assert.Contains("--optimizer (Training:Optimizer): 'adam' is not one of adamw, sgd.", error, StringComparison.Ordinal);
        Assert.Contains("--lr (Training:LearningRate) must be a number above 0 and at most 1000; got -1.", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(folder));
    }

    [Theory]
    [InlineData(new[] { "run", "--steps", "many" }, "--steps")]
    [InlineData(new[] { "run", "--fault", "lr-spike:when=3" }, "--fault")]
    [InlineData(new[] { "run", "--colour", "blue" }, "--colour")]
    public async Task UnreadableOptions_ExitWithCode2(string[] arguments, string named)
    {
        (int exit, _, string error) = await AgentTrainerProcess.RunAsync(arguments);
        Assert.Equal(ExitCodes.InvalidOptions, exit);
        Assert.Contains(named, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task AMissingDataSet_ExitsWithCode3_AndSaysHowToInstallIt()
    {
        (int exit, string output, _) = await AgentTrainerProcess.RunAsync(
            ["run", "--task", "fashion-mnist", "--data-dir", Path.Combine(_out, "missing"), "--out", _out]);
        Assert.Equal(ExitCodes.DataSetProblem, exit);
        Assert.Contains("apt-get install dataset-fashion-mnist", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Sigterm_InterruptsTheRun_WhichCheckpointsAndExitsWith130()
    {
        using var process = new AgentTrainerProcess(["run", "--task", "synthetic", "--steps", "10000000", "--threads", "1", "--out", _out]);
        string metrics = Path.Combine(_out, "metrics.jsonl");
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!File.Exists(metrics) || new FileInfo(metrics).Length < 20_000)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(60), "the run never started");
            await Task.Delay(50);
        }
        process.Signal("TERM");
        (int exit, string output, string error) = await process.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == ExitCodes.Interrupted, output + error);
        JsonNode run = ReadJson(Path.Combine(_out, "run.json"));
        Assert.Equal("interrupted", (string)run["status"]!);
        long step = (long)run["final"]!["steps"]!;
        Assert.True(step > 0);
        // On whichever branch the run was (the default agent may have rolled back).
        Assert.NotEmpty(Directory.GetFiles(Path.Combine(_out, "checkpoints"), $"ckpt-{step:D6}-b*.ckpt"));
    }
}
