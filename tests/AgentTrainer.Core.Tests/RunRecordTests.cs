using System.Text.Json;
using System.Text.Json.Nodes;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;

namespace AgentTrainer.Core.Tests;

public sealed class RunRecordTests : IDisposable
{
    private readonly string _folder = Path.Combine(Path.GetTempPath(), "agent-trainer-records-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(_folder))
        {
            Directory.Delete(_folder, recursive: true);
        }
    }

    [Fact]
    public void Commands_RoundTripThroughJson_WithTheirKind()
    {
        TrainerCommand command = new ModelLayerOperationCommand("hidden1");
        string json = JsonSerializer.Serialize(command, RunJson.Options);
        Assert.Equal("{\"kind\":\"model_layer_operation\",\"layer\":\"hidden1\",\"operation\":\"reset_parameters\"}", json);
        Assert.Equal(command, JsonSerializer.Deserialize<TrainerCommand>(json, RunJson.Options));
    }

    [Fact]
    public async Task ABatchingWriter_WritesEveryLineAndDrainsAtOnceOnClose_WithoutWaitingOutItsInterval()
    {
        string path = Path.Combine(_folder, "batched.jsonl");
        long closing;
        await using (var writer = new JsonLinesWriter(path, batchInterval: TimeSpan.FromMinutes(10)))
        {
            writer.Write(new { n = 0 });
            await Task.Delay(200); // the first burst is written; the writer now waits out its interval
            for (int n = 1; n < 100; n++)
            {
                writer.Write(new { n });
            }
            closing = System.Diagnostics.Stopwatch.GetTimestamp();
        }
        Assert.True(System.Diagnostics.Stopwatch.GetElapsedTime(closing) < TimeSpan.FromMinutes(1), "closing waited out the interval");
        Assert.Equal(Enumerable.Range(0, 100), File.ReadLines(path).Select(line => JsonNode.Parse(line)!["n"]!.GetValue<int>()));
    }

    [Fact]
    public void UnknownCommandKind_IsAJsonError()
    {
        Assert.Throws<JsonException>(() => JsonSerializer.Deserialize<TrainerCommand>("{\"kind\":\"format_disk\"}", RunJson.Options));
    }

    [Fact]
    public void Recorder_WritesMetricsAndEvents_AsJsonLines()
    {
        using (var recorder = new RunRecorder(_folder, logEvery: 2))
        {
            recorder.OnStep(new StepMetrics(0, 0, 0, 2.5, 1e-3, 0.7, 12, 100, false));
            recorder.OnStep(new StepMetrics(1, 0, 0, 2.4, 1e-3, 0.6, 12, 100, false)); // not logged: every 2nd step
            recorder.OnStep(new StepMetrics(3, 0, 0, double.NaN, 1e-3, double.NaN, 12, 100, true)); // logged: non-finite
            recorder.OnEvaluation(new EvaluationMetrics(4, 0, 2.2, 0.81, null, [new LayerHealth("fc1", 3.2, 0.1, 0.25)]));
            recorder.OnEvent(new CommandEvent
            {
                Time = DateTimeOffset.UnixEpoch, Step = 4, Branch = 0, Id = "cmd-00001", Kind = CommandKinds.UpdateOptimizer,
                Source = CommandSource.Agent, Arguments = UpdateOptimizerCommand.ScaleLearningRate(0.5), Status = CommandStatus.Succeeded,
                Reason = "lr 0.001 -> 0.0005",
            });
        }

        JsonNode[] metrics = [.. File.ReadAllLines(Path.Combine(_folder, RunRecorder.MetricsFile)).Select(line => JsonNode.Parse(line)!)];
        Assert.Equal(3, metrics.Length);
        Assert.Equal(0, (long)metrics[0]["step"]!);
        Assert.Equal(2.5, (double)metrics[0]["loss"]!);
        Assert.Equal("NaN", (string)metrics[1]["loss"]!);
        Assert.True((bool)metrics[1]["non_finite"]!);
        Assert.Equal("eval", (string)metrics[2]["kind"]!);
        Assert.Equal(0.81, (double)metrics[2]["accuracy"]!);
        Assert.Equal(0.25, (double)metrics[2]["layers"]![0]!["dead_fraction"]!);

        JsonNode command = JsonNode.Parse(Assert.Single(File.ReadAllLines(Path.Combine(_folder, RunRecorder.EventsFile))))!;
        Assert.Equal("command", (string)command["type"]!);
        Assert.Equal("agent", (string)command["source"]!);
        Assert.Equal("succeeded", (string)command["status"]!);
        Assert.Equal(0.5, (double)command["arguments"]!["learning_rate_factor"]!);
    }

    [Fact]
    public void Summary_IsReplacedWhole()
    {
        using var recorder = new RunRecorder(_folder, 1);
        var summary = new RunSummary
        {
            Status = RunOutcomes.Running, StartedAt = DateTimeOffset.UnixEpoch, Configuration = new TrainingOptions(), Seed = 1,
            Environment = new RunEnvironment("1", "0.107", ".NET", "linux", "cpu", 2),
        };
        recorder.WriteSummary(summary);
        recorder.WriteSummary(summary with { Status = RunOutcomes.Completed });
        JsonNode written = JsonNode.Parse(File.ReadAllText(Path.Combine(_folder, RunRecorder.SummaryFile)))!;
        Assert.Equal("completed", (string)written["status"]!);
        Assert.Equal("char-lm", (string)written["configuration"]!["task"]!);
        Assert.Equal(["run.json"], Directory.GetFiles(_folder, "run.json*").Select(Path.GetFileName));
    }

    [Fact]
    public void Statistics_SummariseBestAndFinalFigures_AndCountAcceptedCommands()
    {
        var statistics = new RunStatistics();
        statistics.OnEvaluation(new EvaluationMetrics(0, 0, 3.0, 0.1, null, []));
        statistics.OnEvaluation(new EvaluationMetrics(100, 0, 1.5, 0.7, null, []));
        statistics.OnEvaluation(new EvaluationMetrics(200, 1, 1.8, 0.65, null, []));
        statistics.OnStep(new StepMetrics(199, 0, 1, double.NaN, 1e-3, double.NaN, 1, 1, true));
        statistics.OnStep(new StepMetrics(200, 0, 1, 1.7, 1e-3, 0.5, 1, 1, false));
        foreach (CommandStatus status in new[] { CommandStatus.Requested, CommandStatus.Pending, CommandStatus.Succeeded })
        {
            statistics.OnEvent(new CommandEvent
            {
                Time = DateTimeOffset.UnixEpoch, Step = 1, Branch = 0, Id = "cmd-00001", Kind = CommandKinds.Pause,
                Source = CommandSource.Human, Arguments = new PauseCommand(), Status = status,
            });
        }

        FinalFigures figures = statistics.Summarise(200, 2, 12.5);
        Assert.Equal(3.0, figures.InitialValLoss);
        Assert.Equal(1.5, figures.BestValLoss);
        Assert.Equal(100, figures.BestValStep);
        Assert.Equal(1.8, figures.FinalValLoss);
        Assert.Equal(0.65, figures.FinalAccuracy);
        Assert.Equal(0.7, figures.BestAccuracy);
        Assert.Equal(1.7, figures.FinalTrainLoss);
        Assert.Equal(1, figures.NonFiniteSteps);
        Assert.Equal(1, figures.CommandsByKind[CommandKinds.Pause]);
    }
}
