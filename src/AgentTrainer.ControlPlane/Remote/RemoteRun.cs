using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;
using Microsoft.AspNetCore.Http;
using static System.FormattableString;

namespace AgentTrainer.ControlPlane.Remote;

/// <summary>One session of a run whose trainer is another process (the trainer protocol): to the agent, the
/// gate, the API and the records it is a run like a built-in one. Its steps, evaluations, checkpoints and command
/// outcomes arrive in report batches (one at a time); its commands leave through <see cref="TakeCommandsAsync"/>.
/// The session ends when the trainer says it finished, or when it falls silent (lost): then every command still
/// owed fails with the reason, and none is left hanging.</summary>
public sealed class RemoteRun : ISupervisedRun, ReportBatchCheck.ISession, IDisposable
{
    private readonly RemoteRunHistory _history;
    private readonly TrainingOptions _options;
    private readonly RunRecorder _recorder;
    private readonly RunStatistics _statistics = new();
    private readonly TimeProvider _time;
    private readonly IRunSummaryContributor[] _contributors;
    private readonly RunEnvironment _environment;
    private readonly SemaphoreSlim _reporting = new(1, 1); // one batch (or the end) at a time
    private readonly Lock _gate = new();
    private readonly Dictionary<string, CommandRecord> _known = new(StringComparer.Ordinal);
    private readonly List<CommandRecord> _sent = []; // sent to the trainer, no outcome yet, oldest first
    private readonly HashSet<string> _appliedKeys;
    private readonly DateTimeOffset _startedAt;
    private long _lastBatch;
    private long _step;
    private int _branch;
    private double _learningRate;
    private double _baseLearningRate;
    private bool _paused;
    private double? _lastLoss;
    private double? _lastValLoss;
    private long _lastEvaluatedStep = -1;
    private string? _outcome;
    private HandedBackModel? _handedBack;
    private long _lastContactTicks;
    private int _pollsWaiting;
    private RunState _state;

    /// <param name="options">the run's settings as the trainer registered them (run.json's configuration)</param>
    /// <param name="resume">where this session continues (null for the first)</param>
    public RemoteRun(string id, TrainingOptions options, IReadOnlyList<string> layers, RunEnvironment environment,
        RemoteRunHistory history, ResumePoint? resume, CommandQueue commands, TimeProvider time, int maxBatchItems,
        IReadOnlyList<IRunObserver> observers)
    {
        Id = id;
        _options = options;
        _environment = environment;
        _history = history;
        _time = time;
        Layers = layers;
        Resume = resume;
        MaxBatchItems = maxBatchItems;
        Commands = commands;
        _startedAt = time.GetUtcNow();
        _lastContactTicks = _startedAt.UtcTicks;
        _baseLearningRate = _learningRate = options.LearningRate;
        _recorder = new RunRecorder(options.Out, options.LogEvery);
        _contributors = [.. observers.OfType<IRunSummaryContributor>()];
        Events = new CompositeObserver([_recorder, _statistics, .. observers]);
        _appliedKeys = resume is null ? new(StringComparer.Ordinal) : [.. history.AppliedKeysAt(resume.CheckpointId)];
        if (resume is not null)
        {
            _step = resume.Step;
            _branch = resume.Branch;
            _lastValLoss = history.Find(resume.CheckpointId)?.LastValLoss;
            PreloadStatistics(resume);
        }
        _state = Snapshot();
        commands.StatusChanged += ReportCommandStatus;
    }

    public string Id { get; }
    public string Task => _options.Task;
    public string Folder => _options.Out;
    public int Session => Resume?.Session ?? 1;
    public ResumePoint? Resume { get; }
    public string? ResumedFromCheckpoint => Resume?.CheckpointId;
    public RunState State => Volatile.Read(ref _state);
    public RunBudget Budget => RunBudget.From(_options, _history.FirstStartedAt);
    public IReadOnlyList<string> Layers { get; }
    public IReadOnlyList<CheckpointInfo> Checkpoints => _history.Checkpoints;
    public IReadOnlyList<BranchInfo> Branches => _history.Branches.All;
    public CommandQueue Commands { get; }
    public IRunObserver Events { get; }
    public int MaxBatchItems { get; }

    /// <summary>How the session ended; null while the trainer trains.</summary>
    public string? Outcome
    {
        get { lock (_gate) { return _outcome; } }
    }

    /// <summary>Raised once, when the session has ended and run.json holds its final figures.</summary>
    public event Action<RemoteRun>? SessionEnded;

    /// <summary>The model the ended session hands back, as run.json's final figures give it; null until then.</summary>
    public HandedBackModel? HandedBack
    {
        get => Volatile.Read(ref _handedBack);
        private set => Volatile.Write(ref _handedBack, value);
    }

    public long LastBatch => Interlocked.Read(ref _lastBatch);
    long ReportBatchCheck.ISession.NextStep => State.Step;

    /// <summary>Writes run.json ("running") and reports the start; call once, before the first batch.</summary>
    public void Start()
    {
        _recorder.WriteSummary(Summary(RunOutcomes.Running));
        Events.OnEvent(new RunStartedEvent
        {
            Time = _startedAt, Step = _step, Branch = _branch, Task = Task, Device = _environment.Device,
            ResumedFromStep = Resume?.Step,
        });
    }

    /// <summary>Records a batch, or refuses it whole with the reason.</summary>
    public async Task<ProtocolProblem?> AcceptAsync(ReportBatch batch, CancellationToken cancellation)
    {
        Touch();
        await _reporting.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            if (Outcome is { } ended)
            {
                return Ended(ended);
            }
            if (ReportBatchCheck.Check(batch, this) is { } problem)
            {
                return problem;
            }
            foreach (TrainerReport item in batch.Items)
            {
                Apply(item);
            }
            Interlocked.Exchange(ref _lastBatch, batch.Batch);
            return null;
        }
        finally
        {
            _reporting.Release();
            Touch();
        }
    }

    /// <summary>The commands for the trainer: waits up to <paramref name="wait"/> for one when none is owed, then
    /// sends every waiting command the trainer can carry out (the others fail here, with the reason) and returns
    /// all sent and not yet answered.</summary>
    public async Task<IReadOnlyList<CommandRecord>> TakeCommandsAsync(TimeSpan wait, CancellationToken cancellation)
    {
        Touch();
        Interlocked.Increment(ref _pollsWaiting);
        try
        {
            bool owed;
            lock (_gate)
            {
                owed = _sent.Count > 0;
            }
            if (!owed && Outcome is null)
            {
                await Commands.WaitForCommandAsync(wait, cancellation).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // the trainer hung up: nothing was taken
        }
        finally
        {
            Interlocked.Decrement(ref _pollsWaiting);
            Touch();
        }
        lock (_gate)
        {
            while (_outcome is null && Commands.TryTake(out CommandRecord record))
            {
                Send(record);
            }
            return [.. _sent];
        }
    }

    /// <summary>Whether the trainer has said nothing since <paramref name="cutoff"/> (a long poll waiting counts
    /// as talking: a trainer that dies drops it).</summary>
    public bool SilentSince(DateTimeOffset cutoff) =>
        Outcome is null && Volatile.Read(ref _pollsWaiting) == 0
        && Interlocked.Read(ref _lastContactTicks) < cutoff.UtcTicks;

    /// <summary>Ends the session for the host (the trainer fell silent, or the host stops): every command sent
    /// and not answered fails with <paramref name="reason"/> (an approval's is cancelled: owed again), every waiting
    /// one is cancelled with it.</summary>
    public async Task EndAsync(string outcome, string reason)
    {
        await _reporting.WaitAsync().ConfigureAwait(false);
        try
        {
            if (Outcome is null)
            {
                End(outcome, reason);
            }
        }
        finally
        {
            _reporting.Release();
        }
    }

    ProtocolProblem ReportBatchCheck.ISession.NotAwaited(string id)
    {
        lock (_gate)
        {
            return !_known.TryGetValue(id, out CommandRecord? record)
                ? new ProtocolProblem(StatusCodes.Status404NotFound,
                    $"unknown command {id}: this session sent no such command.")
                : record.IsFinished
                    ? ProtocolProblem.Conflict(
                        $"command {id} already has its outcome ({record.Status}); not recorded again.")
                    : ProtocolProblem.Conflict(
                        $"command {id} was never sent to the trainer; it has no outcome to report yet.");
        }
    }

    CommandRecord? ReportBatchCheck.ISession.Sent(string id)
    {
        lock (_gate)
        {
            return _sent.Find(r => r.Id == id);
        }
    }

    long? ReportBatchCheck.ISession.CheckpointStep(string id) => _history.Find(id)?.Step;

    private void Send(CommandRecord record)
    {
        Commands.Start(record, _step);
        if (record.Key is { } key && _appliedKeys.Contains(key))
        {
            Commands.Succeed(record, _step, $"already applied ({key}); not applied again");
        }
        else if (Unfit(record.Command) is { } problem)
        {
            Commands.Fail(record, _step, problem);
        }
        else
        {
            _sent.Add(record);
        }
    }

    /// <summary>Why the trainer cannot carry out a command (an unknown checkpoint or layer), or null.</summary>
    private string? Unfit(TrainerCommand command) => command switch
    {
        LoadCheckpointCommand load when _history.Find(load.CheckpointId) is null =>
            $"the trainer reported no checkpoint {load.CheckpointId}; "
            + $"it has {string.Join(", ", Checkpoints.Select(c => c.Id))}.",
        ModelLayerOperationCommand layer => LayerNames.Problem(Layers, layer.Layer),
        _ => null,
    };

    private void Apply(TrainerReport item)
    {
        switch (item)
        {
            case StepReport step:
                RecordStep(step);
                break;
            case EvaluationReport evaluation:
                _lastEvaluatedStep = _step;
                _lastValLoss = evaluation.ValLoss;
                Events.OnEvaluation(new EvaluationMetrics(
                    _step, _branch, evaluation.ValLoss, evaluation.Accuracy, evaluation.BitsPerChar, []));
                break;
            case CheckpointReport checkpoint:
                RecordCheckpoint(checkpoint);
                break;
            case OutcomeReport outcome:
                RecordOutcome(outcome);
                break;
            case FinishedReport finished:
                End(finished.Outcome,
                    Invariant($"not applied: the run ended ({finished.Outcome}) at step {_step} first"),
                    finished.Split);
                break;
        }
    }

    private void RecordStep(StepReport report)
    {
        double loss = report.NonFinite ? report.Loss ?? double.NaN : report.Loss!.Value;
        double seconds = report.StepMs / 1000.0;
        var metrics = new StepMetrics(report.Step, 0, _branch, loss, report.LearningRate, report.GradNorm ?? double.NaN,
            report.StepMs, seconds > 0 ? report.Samples / seconds : 0, report.NonFinite);
        _step = report.Step + 1;
        _learningRate = report.LearningRate;
        _lastLoss = loss;
        _history.StepTrained();
        Publish();
        Events.OnStep(metrics);
        if (report.NonFinite)
        {
            Events.OnEvent(new NonFiniteLossEvent
            {
                Time = _time.GetUtcNow(), Step = _step, Branch = _branch, Consecutive = 1,
            });
        }
    }

    private void RecordCheckpoint(CheckpointReport report)
    {
        DateTimeOffset now = _time.GetUtcNow();
        double? valLoss = _lastEvaluatedStep == _step ? _lastValLoss : null;
        var info = new CheckpointInfo(report.Id, _step, _branch, now, report.Bytes, valLoss, report.Path,
            InMemory: false, LastValLoss: _lastValLoss);
        _history.Add(info, _appliedKeys);
        Events.OnEvent(new CheckpointSavedEvent
        {
            Time = now, Step = _step, Branch = _branch, CheckpointId = report.Id, Path = report.Path,
            Bytes = report.Bytes,
        });
    }

    private void RecordOutcome(OutcomeReport report)
    {
        CommandRecord record;
        lock (_gate)
        {
            record = _sent.Find(r => r.Id == report.CommandId)!;
            _sent.Remove(record);
        }
        if (!report.Succeeded)
        {
            Commands.Fail(record, _step, report.Detail);
            return;
        }
        switch (record.Command)
        {
            case LoadCheckpointCommand load:
                Fork(_history.Find(load.CheckpointId)!);
                break;
            case UpdateOptimizerCommand { LearningRate: { } learningRate }:
                _baseLearningRate = learningRate;
                break;
            case UpdateOptimizerCommand { LearningRateFactor: { } factor }:
                _baseLearningRate *= factor;
                break;
            case PauseCommand or ResumeCommand:
                _paused = record.Command is PauseCommand;
                break;
        }
        if (record.Key is { } key)
        {
            _appliedKeys.Add(key);
        }
        Publish();
        Commands.Succeed(record, _step, report.Detail);
    }

    private void Fork(CheckpointInfo checkpoint)
    {
        BranchInfo branch = _history.Branches.Fork(_branch, checkpoint.Step, checkpoint.Id);
        Events.OnEvent(new BranchCreatedEvent
        {
            Time = _time.GetUtcNow(), Step = checkpoint.Step, Branch = branch.Id, ParentBranch = _branch,
            ForkStep = checkpoint.Step, CheckpointId = checkpoint.Id,
        });
        _step = checkpoint.Step;
        _branch = branch.Id;
        _lastValLoss = checkpoint.LastValLoss;
        _lastEvaluatedStep = -1;
        _appliedKeys.Clear();
        _appliedKeys.UnionWith(_history.AppliedKeysAt(checkpoint.Id));
    }

    private void End(string outcome, string reason, string? split = null)
    {
        List<CommandRecord> owed;
        lock (_gate)
        {
            _outcome = outcome;
            owed = [.. _sent];
            _sent.Clear();
        }
        foreach (CommandRecord record in owed)
        {
            // An approval the trainer never confirmed is in no checkpoint it can come back from: it is owed again
            // (cancelled sends its review back to approved); any other command fails with the reason.
            if (record.Key is not null)
            {
                Commands.Cancel(record, _step, reason);
            }
            else
            {
                Commands.Fail(record, _step, reason);
            }
        }
        Commands.Close(_step, reason);
        Events.OnEvent(new RunFinishedEvent
        {
            Time = _time.GetUtcNow(), Step = _step, Branch = _branch, Outcome = outcome,
        });
        DateTimeOffset finishedAt = _time.GetUtcNow();
        CheckpointInfo? best = Checkpoints.Where(c => c.ValLoss is { } loss && double.IsFinite(loss))
            .MinBy(c => c.ValLoss);
        CheckpointInfo? model = _history.Newest();
        // The trainer keeps its last state: the model handed back is its newest checkpoint, and the final figures
        // that checkpoint's own evaluation (none when the trainer did not evaluate the state it saved: the last
        // evaluation was another state's).
        FinalFigures summarised = _statistics.Summarise(_step, Branches.Count, (finishedAt - _startedAt).TotalSeconds);
        bool modelEvaluated = model?.ValLoss is not null;
        FinalFigures final = summarised with
        {
            FinalValLoss = model?.ValLoss,
            FinalAccuracy = modelEvaluated ? summarised.FinalAccuracy : null,
            FinalBitsPerChar = modelEvaluated ? summarised.FinalBitsPerChar : null,
            ModelCheckpoint = model?.Id,
            ModelStep = model?.Step,
            ValSplit = string.IsNullOrWhiteSpace(split) ? EvaluationSplits.TrainersEvaluate : split,
            BestCheckpoint = best?.Id,
            BestCheckpointValLoss = best?.ValLoss,
        };
        HandedBack = final.HandedBack;
        _recorder.WriteSummary(Summary(outcome) with
        {
            FinishedAt = finishedAt,
            Process = null,
            Error = outcome == RunOutcomes.Lost ? reason : null,
            Final = final,
            Sections = _contributors.Length == 0 ? null
                : _contributors.ToDictionary(c => c.SectionName, c => c.DescribeRun()),
        });
        _recorder.Dispose();
        SessionEnded?.Invoke(this);
    }

    private RunSummary Summary(string status) => new()
    {
        Status = status, StartedAt = _history.FirstStartedAt, Configuration = _options, Seed = _options.Seed,
        Environment = _environment, Session = Session, ResumedFrom = Resume?.CheckpointId, Process = RunProcess.Current,
    };

    /// <summary>A later session: the lines it will record again are dropped, and the figures of the earlier
    /// sessions count (as a resumed built-in run).</summary>
    private void PreloadStatistics(ResumePoint resume)
    {
        _recorder.DropMetrics((step, branch) => !resume.Precedes(step, branch));
        (IReadOnlyList<StepMetrics> steps, IReadOnlyList<EvaluationMetrics> evaluations) =
            RunRecordReader.ReadMetrics(Folder);
        foreach (EvaluationMetrics evaluation in evaluations)
        {
            _statistics.OnEvaluation(evaluation);
        }
        foreach (StepMetrics step in steps)
        {
            _statistics.OnStep(step);
        }
        foreach (CommandEvent command in RunRecordReader.ReadEvents(Folder).OfType<CommandEvent>())
        {
            _statistics.OnEvent(command);
        }
    }

    private ProtocolProblem Ended(string outcome) => ProtocolProblem.Conflict(
        Invariant($"session {Session} of run {Id} has ended ({outcome}); ") + (outcome == RunOutcomes.Lost
            ? "restart the trainer from its checkpoint: it continues as the next session (POST .../sessions)."
            : "nothing more is recorded for it."));

    private void Touch() => Interlocked.Exchange(ref _lastContactTicks, _time.GetUtcNow().UtcTicks);

    private void Publish() => Volatile.Write(ref _state, Snapshot());

    private RunState Snapshot() => new(_step, _options.Steps, _branch, _learningRate, _baseLearningRate, _paused,
        _lastLoss, _history.TrainedSteps, Math.Max(0, Budget.MaxTrainedSteps - _history.TrainedSteps));

    private void ReportCommandStatus(CommandRecord record, CommandStatusChange change)
    {
        lock (_gate)
        {
            _known[record.Id] = record;
        }
        RunState state = State;
        Events.OnEvent(CommandEvent.Of(record, change, state.Step, state.Branch));
    }

    public void Dispose()
    {
        Commands.StatusChanged -= ReportCommandStatus;
        _recorder.Dispose();
        _reporting.Dispose();
    }
}
