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
    private ResumePoint? _resume;

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
    public string TaskName => _task.Name;

    /// <summary>1 for a fresh run, more for a resumed one.</summary>
    public int Session => _resume?.Session ?? 1;
    public string? ResumedFromCheckpoint => _resume?.CheckpointId;

    /// <summary>Continues an unfinished run (see <see cref="RunFolder.Prepare"/>) instead of starting
    /// afresh: checkpoints on disk, branches, the trainer's state from the checkpoint, and the earlier
    /// sessions' metrics for run.json's figures. Call before <see cref="Execute"/>.</summary>
    public void Resume(ResumePoint resume)
    {
        Trainer.Checkpoints.DiscoverOnDisk(CheckpointSerializer.ReadPosition);
        Trainer.Branches.Restore(resume.Branches);
        Trainer.ResumeFrom(resume.CheckpointId);
        (IReadOnlyList<Core.Metrics.StepMetrics> steps, IReadOnlyList<Core.Metrics.EvaluationMetrics> evaluations) = RunRecordReader.ReadMetrics(_options.Out);
        foreach (Core.Metrics.EvaluationMetrics evaluation in evaluations.Where(e => resume.Precedes(e.Step, e.Branch)))
        {
            _statistics.OnEvaluation(evaluation);
        }
        foreach (Core.Metrics.StepMetrics step in steps.Where(s => resume.Precedes(s.Step, s.Branch)))
        {
            _statistics.OnStep(step);
        }
        _resume = resume;
    }

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
            Status = RunOutcomes.Running, StartedAt = _resume?.FirstStartedAt ?? startedAt, Configuration = _options, Seed = _options.Seed,
            Environment = environment, Session = Session, ResumedFrom = _resume?.CheckpointId,
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
