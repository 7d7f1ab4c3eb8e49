using System.Net.Http.Json;
using System.Text.Json;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Samples.CharMlpLoop;
using AgentTrainer.Tests.ControlPlane;
using AgentTrainer.Training;
using AgentTrainer.Training.Loops;
using AgentTrainer.Training.Tasks;
using Microsoft.Extensions.DependencyInjection;

namespace AgentTrainer.Tests;

/// <summary>Your own training loop under the agent: the sample (a character-level MLP language model whose loop
/// reports each step to a session) loaded from its built assembly by the command line, registered through DI,
/// and driven in-process.</summary>
public sealed class OwnLoopTests : IDisposable
{
    private const int FaultStep = 200;
    private readonly string _folder = TestFolders.Create("own-loop");
    private static readonly string SampleAssembly = Path.Combine(AppContext.BaseDirectory, "AgentTrainer.Samples.CharMlpLoop.dll");
    private static readonly TaskCatalog Catalog = new([], [new CharMlpLoopProvider()]);

    public void Dispose() => TestFolders.Delete(_folder);

    private Task<string> Train(string name, params string[] more) =>
        SpikeReplay.TrainAsync(Path.Combine(_folder, name), SampleAssembly, CharMlpLoopProvider.LoopName, ["--lr", "3e-3", .. more]);

    [Fact]
    public async Task The_sample_loop_rolls_back_an_lr_spike_under_the_rules_agent_and_replays_the_healthy_run_bit_for_bit()
    {
        string healthy = await Train("healthy");
        string faulty = await Train("faulty", "--fault", $"lr-spike:step={FaultStep},factor=50");
        // The replay is exact only if the rollback brought back the loop's data position too (its LoadState).
        SpikeReplay.AssertRolledBackAndReplayed(healthy, faulty, FaultStep, brokenBy: 1.5, window: 20);
    }

    [Fact]
    public async Task A_command_sent_through_the_API_is_applied_at_a_step_boundary_of_the_loop_and_shows_in_metrics_events_and_audit()
    {
        using var factory = new ControlPlaneFactory(
            new() { ["Training:Task"] = CharMlpLoopProvider.LoopName, ["Training:StartPaused"] = "false", ["Training:Schedule"] = "constant" },
            web => web.Services.AddTrainingLoop<CharMlpLoopProvider>());
        var run = factory.Run;
        await ApiFixture.Until(() => run.Run.State.Step >= 50, "the loop to train 50 steps");
        using HttpClient client = factory.CreateAuthorizedClient();
        JsonElement runView = await client.GetFromJsonAsync<JsonElement>("/api/run");
        Assert.Equal(CharMlpLoopProvider.LoopName, runView.GetProperty("task").GetString());
        Assert.Contains("hidden", runView.GetProperty("layers").EnumerateArray().Select(l => l.GetString()));

        JsonElement command = await ApiFixture.Send(client, UpdateOptimizerCommand.ScaleLearningRate(0.5));
        Assert.Equal("succeeded", command.GetProperty("status").GetString());
        string id = command.GetProperty("id").GetString()!;
        long applied = command.GetProperty("step").GetInt64(); // the boundary it was applied at
        await ApiFixture.Until(() => run.Run.State.Step >= applied + 5, "the loop to train past the command");

        // The step before the boundary trained at the old lr, the one after it at half of it.
        JsonElement metrics = await client.GetFromJsonAsync<JsonElement>($"/api/metrics?since_step={applied - 2}");
        Dictionary<long, double> lr = metrics.GetProperty("train").EnumerateArray()
            .ToDictionary(p => p.GetProperty("step").GetInt64(), p => p.GetProperty("lr").GetDouble());
        Assert.Equal(1e-3, lr[applied - 1], 12);
        Assert.Equal(5e-4, lr[applied], 12);
        JsonElement events = await client.GetFromJsonAsync<JsonElement>("/api/events?type=command");
        Assert.Contains(events.EnumerateArray(), e => e.GetProperty("id").GetString() == id && e.GetProperty("status").GetString() == "succeeded"
            && e.GetProperty("step").GetInt64() == applied);
        await ApiFixture.Until(async () => (await client.GetFromJsonAsync<JsonElement>($"/api/audit?q={id}&type=command")).GetArrayLength() >= 4,
            "the audit log to hold the command");
        JsonElement audit = await client.GetFromJsonAsync<JsonElement>($"/api/audit?q={id}&type=command");
        Assert.Equal(["succeeded", "running", "pending", "requested"], audit.EnumerateArray().Select(e => e.GetProperty("event").GetProperty("status").GetString()));
    }

    [Fact]
    public async Task A_corrupt_batches_fault_is_refused_for_an_own_loop_with_exit_2_naming_it()
    {
        string run = Path.Combine(_folder, "refused");
        (int exit, string output, string error) = await AgentTrainerProcess.RunAsync(["run", "--task-assembly", SampleAssembly,
            "--task", CharMlpLoopProvider.LoopName, "--fault", "corrupt-batches:step=10,count=5", "--api", "false", "--out", run]);
        Assert.Equal(2, exit);
        Assert.Contains("--fault #1 (Training:Faults:0): corrupt-batches breaks the batches the trainer draws; your own loop draws its own.",
            output + error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(run, "run.json")));
    }

    private TrainingOptions Options(string name, int steps) => new()
    {
        Task = CharMlpLoopProvider.LoopName, Steps = steps, Threads = 1, Schedule = "constant", Out = Path.Combine(_folder, name),
    };

    [Fact]
    public void A_step_reported_after_the_run_ended_is_refused_and_the_session_says_how_it_ended()
    {
        using var commands = new CommandQueue(TimeProvider.System);
        using var run = new TrainingRun(Options("ended", 3), commands, TimeProvider.System, Catalog);
        TrainingSession session = run.BeginLoop(CancellationToken.None);
        var loop = (CharMlpLoop)run.Loop!;
        while (session.Continues)
        {
            (double loss, double gradNorm) = loop.TrainStep(session.GradClip, session.StepOptimizer);
            session.Step(loss, loop.BatchSize, gradNorm);
        }
        Assert.Equal((RunOutcomes.Completed, 3L), (session.Outcome, session.StepNumber));
        var error = Assert.Throws<InvalidOperationException>(() => session.Step(1.0));
        Assert.Equal("The run has ended (completed) at step 3: stop your loop when Continues is false.", error.Message);
        Assert.Equal(3, run.State.Step);
    }

    [Fact]
    public void An_interrupted_loop_resumes_from_its_checkpoint_with_its_own_data_position_as_if_never_stopped()
    {
        RunSummary straight = Execute(Options("straight", 160), stopAtStep: null);
        TrainingOptions stopped = Options("stopped", 160);
        Assert.Equal(RunOutcomes.Interrupted, Execute(stopped, stopAtStep: 70).Status);
        stopped.ExistingRun = ExistingRunModes.Resume;
        PreviousRun previous = RunFolder.Prepare(stopped)!;
        using (var commands = new CommandQueue(TimeProvider.System))
        using (var run = new TrainingRun(stopped, commands, TimeProvider.System, Catalog))
        {
            Assert.Equal(70, run.Resume(previous).Step);
            Assert.Equal(RunOutcomes.Completed, run.Execute(CancellationToken.None).Status);
        }
        Assert.Equal(SpikeReplay.StepsOf(straight.Configuration!.Out, 0, 0, 160).Select(s => s.Loss),
            SpikeReplay.StepsOf(stopped.Out, 0, 0, 160).Select(s => s.Loss));
        Assert.Equal(straight.Final!.FinalValLoss, RunRecordReader.ReadSummary(stopped.Out)!.Final!.FinalValLoss);
    }

    private static RunSummary Execute(TrainingOptions options, long? stopAtStep)
    {
        using var stop = new CancellationTokenSource();
        using var commands = new CommandQueue(TimeProvider.System);
        using var run = new TrainingRun(options, commands, TimeProvider.System, Catalog, new CancelAtStep(stopAtStep, stop));
        return run.Execute(stop.Token);
    }

    /// <summary>Cancels the run (as Ctrl+C does) once a step is reported.</summary>
    private sealed class CancelAtStep(long? step, CancellationTokenSource stop) : IRunObserver
    {
        public void OnStep(StepMetrics metrics)
        {
            if (metrics.Step + 1 == step)
            {
                stop.Cancel();
            }
        }

        public void OnEvaluation(EvaluationMetrics metrics)
        {
        }

        public void OnEvent(RunEvent runEvent)
        {
        }
    }
}
