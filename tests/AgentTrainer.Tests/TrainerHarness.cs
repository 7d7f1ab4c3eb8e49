using System.Collections.Concurrent;
using AgentTrainer.Agents;
using AgentTrainer.Agents.Supervision;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Training;
using AgentTrainer.Training.Trainer;

namespace AgentTrainer.Tests;

/// <summary>A real run of the synthetic task (real TorchSharp training, one thread), with
/// everything it reports collected for assertions.</summary>
public sealed class TrainerHarness : IDisposable, IRunObserver
{
    /// <param name="beforeAttach">what a resumed run's host does before the agent is attached</param>
    public TrainerHarness(Action<TrainingOptions>? configure = null, AgentOptions? agent = null, TimeProvider? time = null,
        Action<TrainerHarness>? beforeAttach = null)
    {
        time ??= TimeProvider.System;
        Folder = TestFolders.Create("run");
        Options = new TrainingOptions
        {
            Task = TaskNames.Synthetic,
            Steps = 200,
            Seed = 3,
            Threads = 1,
            Device = DeviceNames.Cpu,
            EvalEvery = 50,
            SnapshotEvery = 10,
            CheckpointEvery = 0,
            Out = Folder,
        };
        configure?.Invoke(Options);
        Commands = new CommandQueue(time);
        Agent = agent is null ? null : AgentRun.Create(agent, Folder, Commands, time);
        Run = new TrainingRun(Options, Commands, time, [this, .. Agent?.Observers ?? []]);
        beforeAttach?.Invoke(this);
        Agent?.Attach(Run);
    }

    public string Folder { get; }
    public TrainingOptions Options { get; }
    public CommandQueue Commands { get; }
    public TrainingRun Run { get; }
    public AgentRun? Agent { get; }
    public InteractiveTrainer Trainer => Run.Trainer;
    public ConcurrentQueue<StepMetrics> Steps { get; } = new();
    public ConcurrentQueue<EvaluationMetrics> Evaluations { get; } = new();
    public ConcurrentQueue<RunEvent> Events { get; } = new();

    public void OnStep(StepMetrics metrics) => Steps.Enqueue(metrics);
    public void OnEvaluation(EvaluationMetrics metrics) => Evaluations.Enqueue(metrics);
    public void OnEvent(RunEvent runEvent) => Events.Enqueue(runEvent);

    /// <summary>Losses of the steps taken on <paramref name="branch"/> in [from, to).</summary>
    public double[] Losses(int branch, long from, long to) =>
        [.. Steps.Where(s => s.Branch == branch && s.Step >= from && s.Step < to).OrderBy(s => s.Step).Select(s => s.Loss)];

    public double MeanLoss(int branch, long from, long to) => Losses(branch, from, to).Average();

    /// <summary>Submits a command and trains until it has been applied (at the next step boundary).</summary>
    public CommandRecord Apply(TrainerCommand command)
    {
        CommandRecord record = Commands.Submit(command, CommandSource.Human);
        Trainer.RunUntil(0, CancellationToken.None); // applies what is queued, trains no step
        Assert.True(record.IsFinished, $"{record.Id} is {record.Status}");
        return record;
    }

    public void Dispose()
    {
        Agent?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        Run.Dispose();
        Commands.Dispose();
        TestFolders.Delete(Folder);
    }
}

public static class TestFolders
{
    public static string Create(string purpose)
    {
        string folder = Path.Combine(Path.GetTempPath(), $"agent-trainer-{purpose}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(folder);
        return folder;
    }

    public static void Delete(string folder)
    {
        if (Directory.Exists(folder))
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
