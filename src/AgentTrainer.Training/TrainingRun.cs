using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;
using AgentTrainer.Training.Checkpoints;
using AgentTrainer.Training.Loops;
using AgentTrainer.Training.Runtime;
using AgentTrainer.Training.Tasks;
using AgentTrainer.Training.Trainer;

namespace AgentTrainer.Training;

/// <summary>One run, assembled from its options: runtime, task and model, checkpoint store, run
/// records and the trainer. <see cref="Execute"/> trains and writes run.json at start and end.</summary>
public sealed class TrainingRun : ISupervisedRun, IDisposable
{
    public const string CheckpointFolder = "checkpoints";

    private readonly TrainingOptions _options;
    private readonly TimeProvider _time;
    private readonly RunRecorder _recorder;
    private readonly RunStatistics _statistics = new();
    private readonly ITrainingTask? _task;
    private readonly ITrainingLoop? _loop;
    private readonly IRunSummaryContributor[] _contributors;
    private ResumePoint? _resume;

    public TrainingRun(TrainingOptions options, CommandQueue commands, TimeProvider time, params IRunObserver[] observers)
        : this(options, commands, time, TaskCatalog.BuiltIn, observers)
    {
    }

    /// <param name="tasks">the tasks <see cref="TrainingOptions.Task"/> may name (the built-in ones, and your own)</param>
    public TrainingRun(TrainingOptions options, CommandQueue commands, TimeProvider time, TaskCatalog tasks, params IRunObserver[] observers)
    {
        _options = options;
        _time = time;
        Commands = commands;
        Runtime = TorchRuntime.Configure(options.Device, options.Threads);
        if (tasks.IsLoop(options))
        {
            RefuseFaultsOnOwnBatches(options.Faults);
            _loop = tasks.CreateLoop(options, Runtime.Device);
        }
        else
        {
            _task = tasks.Create(options, Runtime.Device);
        }
        _recorder = new RunRecorder(options.Out, options.LogEvery);
        var store = new CheckpointStore(Path.Combine(options.Out, CheckpointFolder), options.SnapshotsKept, time, options.CheckpointsKept);
        _contributors = [.. observers.OfType<IRunSummaryContributor>()];
        Events = new CompositeObserver([_recorder, _statistics, .. observers]);
        Trainer = _loop is not null
            ? new InteractiveTrainer(options, TrainingTarget.Of(_loop, options), commands, store, Events, time)
            : new InteractiveTrainer(options, _task!, commands, store, Events, time);
        Model = _loop?.Model ?? _task!.Model;
        RefuseFaultsOnMissingLayers(options.Faults);
    }

    public TorchRuntime Runtime { get; }

    /// <summary>Everything reported to the run's records and observers; others may report into it too.</summary>
    public IRunObserver Events { get; }
    public InteractiveTrainer Trainer { get; }

    /// <summary>The model being trained (owned by the run; for inspection, not for training elsewhere).</summary>
    public TorchSharp.torch.nn.Module Model { get; }

    /// <summary>Your own loop, when the run is one (<see cref="ITrainingLoopProvider"/>); null for a task.</summary>
    public ITrainingLoop? Loop => _loop;
    public string Folder => _options.Out;
    public string Task => _options.Task;

    public int Session => _resume?.Session ?? 1;
    public string? ResumedFromCheckpoint => _resume?.CheckpointId;
    public RunState State => Trainer.State;
    public RunBudget Budget => Trainer.Budget;
    public IReadOnlyList<string> Layers => Trainer.Layers;
    public IReadOnlyList<CheckpointInfo> Checkpoints => Trainer.Checkpoints.List();
    public IReadOnlyList<BranchInfo> Branches => Trainer.Branches.All;
    public CommandQueue Commands { get; }

    /// <summary>Continues an earlier run (see <see cref="RunFolder.Prepare"/>) instead of starting afresh:
    /// from the newest checkpoint on disk that is sound and of this model (others are skipped, reported
    /// and left where they are), with the branches, faults and figures of the earlier sessions. The
    /// metrics lines this session will write again are dropped, so each step is recorded once.
    /// Call before <see cref="Execute"/>.</summary>
    public ResumePoint Resume(PreviousRun previous)
    {
        DateTimeOffset now = _time.GetUtcNow();
        var skipped = new List<string>();
        void Skip(string path, string problem)
        {
            skipped.Add($"{Path.GetFileName(path)}: {problem}");
            Events.OnEvent(new CheckpointSkippedEvent { Time = now, Step = 0, Branch = 0, Path = path, Problem = problem });
        }
        foreach ((string path, string problem) in Trainer.Checkpoints.DiscoverOnDisk(Trainer.Foreign))
        {
            Skip(path, problem);
        }
        string? resumedFrom = null;
        foreach (string id in Trainer.Checkpoints.OnDiskNewestFirst())
        {
            try
            {
                Trainer.ResumeFrom(id, previous.FirstStartedAt);
                resumedFrom = id;
                break;
            }
            catch (CheckpointException error)
            {
                Skip(Trainer.Checkpoints.Find(id)?.Path ?? id, error.Message);
                Trainer.Checkpoints.Forget(id);
            }
        }
        if (resumedFrom is null)
        {
            throw new RunOptionsException($"--out (Training:Out): the run in {Path.GetFullPath(_options.Out)} cannot be continued: it has no "
                + $"usable checkpoint on disk{(skipped.Count > 0 ? $" ({string.Join("; ", skipped)})" : "")}. Start over there with --new "
                + "(its records move to archive/, nothing is deleted), or choose another --out.");
        }
        Trainer.Branches.Restore(previous.Branches);
        Trainer.ForgetFaultsStruck(previous.FaultsStruck);
        RunState state = Trainer.State;
        _resume = new ResumePoint(resumedFrom, state.Step, state.Branch, previous.Session, previous.FirstStartedAt);
        _recorder.DropMetrics((step, branch) => !_resume.Precedes(step, branch));
        (IReadOnlyList<StepMetrics> steps, IReadOnlyList<EvaluationMetrics> evaluations) = RunRecordReader.ReadMetrics(_options.Out);
        foreach (EvaluationMetrics evaluation in evaluations)
        {
            _statistics.OnEvaluation(evaluation);
        }
        foreach (StepMetrics step in steps)
        {
            _statistics.OnStep(step);
        }
        foreach (CommandEvent command in previous.Events.OfType<CommandEvent>())
        {
            _statistics.OnEvent(command);
        }
        return _resume;
    }

    /// <summary>Trains and writes run.json at the start ("running") and at the end. Whatever ends the
    /// run, run.json says how: an error makes it "failed", with the error, before it is rethrown.</summary>
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
            Environment = environment, Session = Session, ResumedFrom = _resume?.CheckpointId, Process = RunProcess.Current,
        };
        try
        {
            _recorder.WriteSummary(summary);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new RunOptionsException($"--out (Training:Out): cannot write the run's records in {Path.GetFullPath(_options.Out)}: {error.Message}");
        }

        TrainerResult result;
        try
        {
            using var recordsFailed = CancellationTokenSource.CreateLinkedTokenSource(cancellation, _recorder.Failed);
            result = _loop is null ? Trainer.Run(recordsFailed.Token) : RunLoop(_loop, recordsFailed.Token);
            _recorder.ThrowIfFailed();
        }
        catch (Exception error)
        {
            try
            {
                WriteFinalSummary(summary with { Status = RunOutcomes.Failed, Error = error.Message }, Trainer.State.Step, Trainer.Branches.Count, startedAt);
            }
            catch (Exception writing) when (writing is IOException or UnauthorizedAccessException)
            {
                // The disk that failed the run may refuse run.json too; the error below is what matters.
            }
            throw;
        }
        return WriteFinalSummary(summary with { Status = result.Outcome }, result.Step, result.Branches, startedAt, result);
    }

    /// <summary>Your loop takes the steps; the run ends when it returns (its outcome the session's, or "stopped" for
    /// a loop that returned of its own accord).</summary>
    private TrainerResult RunLoop(ITrainingLoop loop, CancellationToken cancellation)
    {
        TrainingSession session = BeginLoop(cancellation);
        loop.Train(session);
        return Trainer.Finish(session.Outcome ?? RunOutcomes.Stopped);
    }

    /// <summary>Starts the run for your own loop (as <see cref="InteractiveTrainer.Begin"/>) and gives the session
    /// its steps report to. <see cref="Execute"/> does this itself; for code that drives a loop step by step.</summary>
    public TrainingSession BeginLoop(CancellationToken cancellation)
    {
        Trainer.Begin();
        return new TrainingSession(Trainer, _options.Steps, cancellation);
    }

    private RunSummary WriteFinalSummary(RunSummary summary, long step, int branches, DateTimeOffset startedAt, TrainerResult? result = null)
    {
        DateTimeOffset finishedAt = _time.GetUtcNow();
        summary = summary with
        {
            FinishedAt = finishedAt,
            Process = null,
            Final = _statistics.Summarise(step, branches, (finishedAt - startedAt).TotalSeconds) with
            {
                ModelCheckpoint = result?.ModelCheckpoint,
                ModelStep = result?.ModelStep,
                ValSplit = result is null ? null : EvaluationSplits.WholeHeldOut,
                BestCheckpoint = result?.BestCheckpoint,
                BestCheckpointValLoss = result?.BestCheckpointValLoss,
            },
            Sections = _contributors.Length == 0 ? null : _contributors.ToDictionary(c => c.SectionName, c => c.DescribeRun()),
        };
        _recorder.WriteSummary(summary);
        return summary;
    }

    /// <summary>A fault naming a layer the model lacks would stop the run when it strikes: refuse it now.</summary>
    private void RefuseFaultsOnMissingLayers(List<FaultOptions> faults)
    {
        for (int index = 0; index < faults.Count; index++)
        {
            if (faults[index].Kind is FaultKinds.ScaleLayer or FaultKinds.ZeroLayer
                && LayerNames.Problem(Trainer.Layers, faults[index].Layer) is { } problem)
            {
                throw new RunOptionsException($"--fault #{index + 1} (Training:Faults:{index}): {problem}");
            }
        }
    }

    /// <summary>A corrupt-batches fault breaks the trainer's batches; your own loop's are its own.</summary>
    private static void RefuseFaultsOnOwnBatches(List<FaultOptions> faults)
    {
        int index = faults.FindIndex(fault => fault.Kind == FaultKinds.CorruptBatches);
        if (index >= 0)
        {
            throw new RunOptionsException($"--fault #{index + 1} (Training:Faults:{index}): {FaultKinds.CorruptBatches} "
                + "breaks the batches the trainer draws; your own loop draws its own. lr-spike, scale-layer and "
                + "zero-layer work for it.");
        }
    }

    public void Dispose()
    {
        Trainer.Dispose();
        _recorder.Dispose();
        _task?.Dispose();
        _loop?.Dispose();
    }
}
