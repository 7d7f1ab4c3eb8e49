using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Training.Checkpoints;
using AgentTrainer.Training.Runtime;
using AgentTrainer.Training.Tasks;
using AgentTrainer.Training.Trainer;

namespace AgentTrainer.Training;

/// <summary>One run, assembled from its options: runtime, task and model, checkpoint store, run
/// records and the trainer. <see cref="Execute"/> trains and writes run.json at start and end.</summary>
public sealed class TrainingRun : IDisposable
{
    public const string CheckpointFolder = "checkpoints";

    private readonly TrainingOptions _options;
    private readonly TimeProvider _time;
    private readonly RunRecorder _recorder;
    private readonly RunStatistics _statistics = new();
    private readonly ITrainingTask _task;
    private readonly IRunSummaryContributor[] _contributors;

    public TrainingRun(TrainingOptions options, CommandQueue commands, TimeProvider time, params IRunObserver[] observers)
    {
        _options = options;
        _time = time;
        Runtime = TorchRuntime.Configure(options.Device, options.Threads);
        _task = TrainingTaskFactory.Create(options, Runtime.Device);
        _recorder = new RunRecorder(options.Out, options.LogEvery);
        var store = new CheckpointStore(Path.Combine(options.Out, CheckpointFolder), options.SnapshotsKept, time);
        _contributors = [.. observers.OfType<IRunSummaryContributor>()];
        Events = new CompositeObserver([_recorder, _statistics, .. observers]);
        Trainer = new InteractiveTrainer(options, _task, commands, store, Events, time);
    }

    public TorchRuntime Runtime { get; }

    /// <summary>Everything reported to the run's records and observers; others may report into it too.</summary>
    public IRunObserver Events { get; }
    public InteractiveTrainer Trainer { get; }

    /// <summary>The model being trained (owned by the run; for inspection, not for training elsewhere).</summary>
    public TorchSharp.torch.nn.Module Model => _task.Model;
    public string OutputFolder => _options.Out;

    public RunSummary Execute(CancellationToken cancellation)
    {
        DateTimeOffset startedAt = _time.GetUtcNow();
        var environment = new RunEnvironment(
            typeof(TrainingRun).Assembly.GetName().Version?.ToString() ?? "unknown",
            TorchRuntime.TorchSharpVersion,
            System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription,
            System.Runtime.InteropServices.RuntimeInformation.OSDescription,
            Runtime.Description,
            Runtime.Threads);
        var summary = new RunSummary
        {
            Status = RunOutcomes.Running, StartedAt = startedAt, Configuration = _options, Seed = _options.Seed, Environment = environment,
        };
        _recorder.WriteSummary(summary);

        TrainerResult result = Trainer.Run(cancellation);

        DateTimeOffset finishedAt = _time.GetUtcNow();
        summary = summary with
        {
            Status = result.Outcome,
            FinishedAt = finishedAt,
            Final = _statistics.Summarise(result.Step, result.Branches, (finishedAt - startedAt).TotalSeconds),
            Sections = _contributors.Length == 0 ? null : _contributors.ToDictionary(c => c.SectionName, c => c.DescribeRun()),
        };
        _recorder.WriteSummary(summary);
        return summary;
    }

    public void Dispose()
    {
        Trainer.Dispose();
        _recorder.Dispose();
        _task.Dispose();
    }
}
