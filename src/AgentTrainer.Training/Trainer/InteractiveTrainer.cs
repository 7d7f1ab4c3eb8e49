using System.Diagnostics;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;
using AgentTrainer.Core.Schedules;
using AgentTrainer.Training.Checkpoints;
using AgentTrainer.Training.Tasks;
using static System.FormattableString;
using TorchSharp.Modules;

namespace AgentTrainer.Training.Trainer;

/// <summary>The training loop. Runs on one thread; everything else talks to it through the
/// <see cref="CommandQueue"/>, whose commands are applied only between steps, in order.</summary>
public sealed class InteractiveTrainer : IDisposable
{
    private readonly TrainingOptions _options;
    private readonly TrainingTarget _target;
    private readonly TaskStep? _taskStep;
    private readonly CommandQueue _commands;
    private readonly IRunObserver _observer;
    private readonly TimeProvider _time;
    private readonly OptimizerControl _optimizer;
    private readonly ModelLayers _layers;
    private readonly LearningRateSchedule _schedule;
    private readonly FaultInjector _faults;
    private readonly WeightChangeMeter _weightChange;
    private readonly StepGuards _guards;
    private readonly LayerTraining _layerTraining;
    private readonly DatasetControl _dataset = DatasetControl.None;
    private readonly HashSet<string> _appliedKeys = new(StringComparer.Ordinal);
    private readonly BudgetMeter _budget;
    private readonly MemoryStream _captureBuffer = new(); // reused by every capture (see CheckpointSerializer.Capture)

    private long _step;
    private long _dataPosition;
    private int _branch;
    private double _baseLearningRate;
    private double _weightDecay;
    private double _gradClip;
    private bool _paused;
    private bool _stopRequested;
    private int _consecutiveNonFinite;
    private double? _lastLoss;
    private double? _lastValLoss;
    private double _bestValLoss = double.PositiveInfinity;
    private long _lastEvaluatedStep = -1;
    private Exploration? _exploration;
    private RunState _state;

    /// <summary>A trainer that takes the task's steps itself (<see cref="Run"/>).</summary>
    public InteractiveTrainer(
        TrainingOptions options,
        ITrainingTask task,
        CommandQueue commands,
        CheckpointStore checkpoints,
        IRunObserver observer,
        TimeProvider time)
        : this(options, TrainingTarget.Of(task, options), commands, checkpoints, observer, time)
    {
        _taskStep = new TaskStep(task, _optimizer, options.Seed, UpdateWeights);
        string? watch = options.Data.WatchFolder.Length > 0 ? Path.Combine(options.Out, options.Data.WatchFolder) : null;
        _dataset = new DatasetControl(task as IMixtureTask, watch, options.Data.WatchWeight);
    }

    /// <summary>A trainer whose steps your own loop takes, reporting each through a
    /// <see cref="Loops.TrainingSession"/>.</summary>
    public InteractiveTrainer(
        TrainingOptions options,
        TrainingTarget target,
        CommandQueue commands,
        CheckpointStore checkpoints,
        IRunObserver observer,
        TimeProvider time)
    {
        _options = options;
        _target = target;
        _commands = commands;
        Checkpoints = checkpoints;
        _observer = observer;
        _time = time;
        _layers = new ModelLayers(target.Model);
        _optimizer = target.Optimizer;
        _schedule = new LearningRateSchedule(options.Schedule, options.Steps, options.WarmupSteps);
        _faults = new FaultInjector(options.Faults);
        _weightChange = new WeightChangeMeter(target.Model.named_children());
        _guards = new StepGuards(options.Guards);
        _layerTraining = new LayerTraining(_layers, _optimizer);
        _baseLearningRate = options.LearningRate;
        _weightDecay = options.WeightDecay;
        _gradClip = options.GradClip;
        _paused = options.StartPaused;
        LoadBestAtEnd = options.LoadBestAtEnd ?? false;
        _budget = new BudgetMeter(RunBudget.From(options, time.GetUtcNow()), time);
        _state = SnapshotState();
        ModelSignature = _layers.Signature(target.Name, target.OptimizerName);
        _commands.StatusChanged += ReportCommandStatus;
    }

    /// <summary>What a checkpoint must have been taken from to be restored here: task, model class,
    /// optimizer, parameter count and a hash of every parameter's name and shape.</summary>
    public string ModelSignature { get; }

    public CheckpointStore Checkpoints { get; }
    public BranchTree Branches { get; } = new();

    /// <summary>Every module a layer operation or layer fault may name, by dotted path
    /// (<see cref="LayerNames"/>).</summary>
    public IReadOnlyList<string> Layers => _layers.Names;

    /// <summary>The training data's mixture (null: the task's data is not one). Read on the training thread.</summary>
    public Core.Records.DataMixture? Mixture => _dataset.Mixture;

    /// <summary>Safe to read from any thread; refreshed after every step and command.</summary>
    public RunState State => Volatile.Read(ref _state);

    /// <summary>Continues from a checkpoint before <see cref="Run"/> (a resumed run), on the same branch,
    /// with exactly the keyed commands that checkpoint contains counted as applied, and the budget the
    /// run set when it first started spent as far as that checkpoint.</summary>
    public void ResumeFrom(string checkpointId, DateTimeOffset firstStartedAt)
    {
        TrainerPosition position = Restore(checkpointId);
        _budget.Resume(position.TrainedSteps ?? position.Step, RunBudget.From(_options, firstStartedAt));
        _bestValLoss = Checkpoints.List().Select(c => c.ValLoss ?? double.PositiveInfinity).Where(double.IsFinite)
            .DefaultIfEmpty(double.PositiveInfinity).Min();
        _appliedKeys.Clear();
        _appliedKeys.UnionWith(position.AppliedKeys ?? []);
        MoveTo(position, position.Branch);
    }

    /// <summary>Keys of the keyed commands applied (restored from the checkpoint on resume). Read before training
    /// starts.</summary>
    public IReadOnlySet<string> AppliedKeys => _appliedKeys;

    /// <summary>Faults an earlier session already took (a resumed run): each strikes once per run.</summary>
    public void ForgetFaultsStruck(IEnumerable<(string Kind, long Step)> struck) => _faults.AlreadyStruck(struck);

    /// <summary>Trains to the configured number of steps, or until stopped, interrupted or diverged.</summary>
    public TrainerResult Run(CancellationToken cancellation)
    {
        Begin();
        return Finish(RunUntil(_options.Steps, cancellation));
    }

    /// <summary>Reports the start, evaluates the starting point and keeps it as a checkpoint.</summary>
    public void Begin()
    {
        _observer.OnEvent(new RunStartedEvent
        {
            Time = _time.GetUtcNow(), Step = _step, Branch = _branch, Task = _target.Name,
            Device = _target.Model.parameters().First().device.ToString(),
            ResumedFromStep = _step > 0 ? _step : null,
        });
        // The starting point is always worth keeping, on disk: it is the first best, and "start over" needs it.
        IsNewBest(Evaluate());
        SaveCheckpoint(toDisk: true);
    }

    /// <summary>Trains the task until <paramref name="stepLimit"/> (completed) or an earlier end; returns the
    /// outcome.</summary>
    public string RunUntil(long stepLimit, CancellationToken cancellation)
    {
        TaskStep task = _taskStep
            ?? throw new InvalidOperationException("Your own loop takes this run's steps (TrainingSession).");
        string? outcome = AtBoundary(stepLimit, cancellation);
        while (outcome is null)
        {
            long started = Stopwatch.GetTimestamp();
            double learningRate = BeginStep();
            long trainStarted = Stopwatch.GetTimestamp();
            bool corrupt = _faults.TakeCorruptBatch();
            (double loss, double gradNorm, bool skipped) = task.Train(_dataPosition, corrupt, GradClip, _guards.SkipAbove);
            double elapsedMs = Stopwatch.GetElapsedTime(trainStarted).TotalMilliseconds;
            var report = new StepReport(
                loss, skipped ? null : gradNorm, learningRate, task.SamplesPerBatch, elapsedMs, skipped);
            outcome = EndStep(report, started, stepLimit, cancellation);
        }
        return outcome;
    }

    /// <summary>The step boundary: applies the commands waiting (waiting for more while paused), then says how the
    /// run ended, or null while it goes on.</summary>
    internal string? AtBoundary(long stepLimit, CancellationToken cancellation)
    {
        AdvanceExploration();
        if (_exploration is null && _dataset.FoldInArrivals(_step) is { } arrived)
        {
            DatasetUpdated(arrived); // not while exploring: every branch trains on the same data
        }
        ApplyCommands(cancellation);
        return cancellation.IsCancellationRequested ? RunOutcomes.Interrupted
            : _stopRequested ? RunOutcomes.Stopped
            : _step >= stepLimit ? RunOutcomes.Completed
            : _budget.Spent ? RunOutcomes.OutOfBudget
            : null;
    }

    /// <summary>Before a step: the faults due strike, and the optimizer gets the step's learning rate
    /// (returned).</summary>
    internal double BeginStep()
    {
        InjectFaults();
        double learningRate = _baseLearningRate * _schedule.Multiplier(_step);
        _optimizer.SetLearningRate(learningRate);
        return learningRate;
    }

    /// <summary>After a step, whoever took it (the task's, or your loop's, begun at <paramref name="started"/>):
    /// records it, evaluates and checkpoints when due, and ends at the next boundary (see
    /// <see cref="AtBoundary"/>).</summary>
    internal string? EndStep(StepReport report, long started, long stepLimit, CancellationToken cancellation)
    {
        RecordStep(report);
        if (_consecutiveNonFinite >= _options.MaxConsecutiveNonFinite)
        {
            return RunOutcomes.Diverged;
        }
        RunPeriodicWork();
        _budget.Pace(Stopwatch.GetElapsedTime(started));
        return AtBoundary(stepLimit, cancellation);
    }

    /// <summary>The optimizer's update of the step being taken, with the weight-path meter around it (one step in
    /// ten is measured): the task's step and your loop's (<see cref="Loops.TrainingSession.StepOptimizer"/>).</summary>
    internal void UpdateWeights()
    {
        _weightChange.BeforeStep(_step);
        _optimizer.Step();
        _weightChange.AfterStep();
    }

    /// <summary>The gradient-norm clipping threshold of the next step (0: none): the adaptive guard's when it is on,
    /// else the settings' or the latest command's.</summary>
    public double GradClip => _guards.AdaptiveGradClip ?? _gradClip;

    /// <summary>Hand back the best model at the end (see <see cref="Finish"/>):
    /// <see cref="TrainingOptions.LoadBestAtEnd"/>, which the host turns on by default when an agent supervises the
    /// run. Set before <see cref="Run"/>.</summary>
    public bool LoadBestAtEnd { get; set; }

    /// <summary>The budget the run spends (trained steps, deadline).</summary>
    public RunBudget Budget => _budget.Budget;

    /// <summary>Evaluates the final state on the whole held-out set, writes it to disk as a checkpoint (to
    /// continue from), measures the best checkpoint the same way, hands it back when asked and better, and
    /// reports the end.</summary>
    public TrainerResult Finish(string outcome)
    {
        _commands.Close(_step, Invariant($"not applied: the run ended ({outcome}) at step {_step} first"));
        if (_exploration is { } unfinished)
        {
            _commands.Fail(unfinished.Record, _step,
                Invariant($"the run ended ({outcome}) at step {_step} while exploring; {unfinished.Current} of ")
                + Invariant($"{unfinished.Factors.Count} branches trained"));
            _exploration = null;
        }
        EvaluationMetrics last = Evaluate(maxBatches: 0);
        CheckpointInfo final = SaveCheckpoint(toDisk: true);
        CheckpointInfo best = BestCheckpoint() ?? final;
        (string model, double bestLoss) = best.Id == final.Id
            ? (final.Id, last.ValLoss)
            : SettleOnModel(final, best, last);
        _observer.OnEvent(new RunFinishedEvent
        {
            Time = _time.GetUtcNow(), Step = _step, Branch = _branch, Outcome = outcome,
        });
        long modelStep = model == final.Id ? final.Step : best.Step;
        return new TrainerResult(outcome, _step, Branches.Count, model, modelStep, best.Id, bestLoss);
    }

    private CheckpointInfo? BestCheckpoint() =>
        Checkpoints.List().Where(c => c.ValLoss is { } loss && double.IsFinite(loss)).MinBy(c => c.ValLoss);

    /// <summary>Evaluates the best checkpoint on the whole held-out set, as the last state was (periodic
    /// evaluations use part of it, so the two compare fairly), and when <see cref="LoadBestAtEnd"/> and it is
    /// the better, keeps its weights in the model (as Hugging Face's load_best_model_at_end does); the last
    /// state stays on disk. Returns the checkpoint handed back and the best's loss on the whole set (NaN when
    /// it can no longer be read: the last state is handed back then, and the run ends as it would have).</summary>
    private (string Model, double BestLoss) SettleOnModel(
        CheckpointInfo final, CheckpointInfo best, EvaluationMetrics last)
    {
        byte[] lastState = Checkpoints.Load(final.Id);
        try
        {
            Restore(best.Id);
        }
        catch (CheckpointException)
        {
            return (final.Id, double.NaN); // the model is untouched: Restore undoes a failed load
        }
        TaskEvaluation whole = _target.Evaluate(0);
        // A diverged run's best still counts.
        double lastLoss = double.IsFinite(last.ValLoss) ? last.ValLoss : double.PositiveInfinity;
        if (!LoadBestAtEnd || !(whole.Loss < lastLoss))
        {
            Restore(lastState);
            return (final.Id, whole.Loss);
        }
        _observer.OnEvent(new BestModelRestoredEvent
        {
            Time = _time.GetUtcNow(), Step = _step, Branch = _branch, CheckpointId = best.Id, ValLoss = whole.Loss,
            Accuracy = whole.Accuracy, BitsPerChar = whole.BitsPerChar, LastValLoss = last.ValLoss,
        });
        return (best.Id, whole.Loss);
    }

    private void RecordStep(StepReport report)
    {
        (double lossValue, double? gradNorm, double learningRate, long samples, double elapsedMs, bool skipped) = report;
        // A non-finite loss or gradient is reported and its update skipped, never trained through.
        bool nonFinite = !double.IsFinite(lossValue) || gradNorm is { } norm && !double.IsFinite(norm);
        _consecutiveNonFinite = nonFinite ? _consecutiveNonFinite + 1 : 0;
        var metrics = new StepMetrics(
            _step, (int)(_dataPosition / _target.BatchesPerEpoch), _branch, lossValue, learningRate,
            gradNorm ?? double.NaN, elapsedMs, samples / (elapsedMs / 1000.0), nonFinite, skipped ? true : null);
        if (skipped)
        {
            _guards.BatchSkipped();
        }
        else if (!nonFinite)
        {
            _guards.Trained(lossValue, gradNorm);
        }
        _step++;
        _dataPosition++;
        _budget.StepTaken();
        _lastLoss = lossValue;
        Volatile.Write(ref _state, SnapshotState()); // observers see the state after this step
        _observer.OnStep(metrics);
        if (nonFinite)
        {
            _observer.OnEvent(new NonFiniteLossEvent
            {
                Time = _time.GetUtcNow(), Step = _step, Branch = _branch, Consecutive = _consecutiveNonFinite,
            });
        }
        if (skipped)
        {
            _observer.OnEvent(new BatchSkippedEvent
            {
                Time = _time.GetUtcNow(), Step = metrics.Step, Branch = _branch, Loss = lossValue,
                LossAverage = _guards.LossAverage, Factor = _options.Guards.SkipBatchLossFactor, Skipped = _guards.Skipped,
            });
        }
    }

    private void RunPeriodicWork()
    {
        // Evaluate first, so a checkpoint taken at the same step carries its validation loss.
        // The last step is left to Finish, which evaluates on the whole held-out set.
        bool newBest = _step % _options.EvalEvery == 0 && _step < _options.Steps && IsNewBest(Evaluate());
        bool toDisk = newBest || (_options.CheckpointEvery > 0 && _step % _options.CheckpointEvery == 0);
        if (toDisk || (_options.SnapshotEvery > 0 && _step % _options.SnapshotEvery == 0))
        {
            SaveCheckpoint(toDisk);
        }
    }

    /// <summary>Whether an evaluation is the run's best so far (on any branch). The best model is always
    /// kept on disk: a checkpoint is written at every new best, and pruning never deletes the best.</summary>
    private bool IsNewBest(EvaluationMetrics evaluation)
    {
        if (!double.IsFinite(evaluation.ValLoss) || evaluation.ValLoss >= _bestValLoss)
        {
            return false;
        }
        _bestValLoss = evaluation.ValLoss;
        return true;
    }

    private string EvaluateNow()
    {
        EvaluationMetrics evaluation = Evaluate();
        if (IsNewBest(evaluation))
        {
            SaveCheckpoint(toDisk: true);
        }
        return DescribeEvaluation(evaluation);
    }

    private void ApplyCommands(CancellationToken cancellation)
    {
        while (true)
        {
            while (_commands.TryTake(out CommandRecord record))
            {
                Apply(record);
            }
            if (!_paused || _stopRequested || cancellation.IsCancellationRequested)
            {
                return;
            }
            try
            {
                _commands.WaitForCommand(cancellation);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private void Apply(CommandRecord record)
    {
        _commands.Start(record, _step);
        if (record.Key is { } key && _appliedKeys.Contains(key))
        {
            _commands.Succeed(record, _step, $"already applied ({key}); not applied again");
            return;
        }
        try
        {
            // null: the command goes on after this boundary (an exploration), and succeeds when it ends.
            string? result = record.Command switch
            {
                _ when _exploration is not null && !AllowedWhileExploring(record.Command) => throw new
                    CommandRejectedException(Invariant($"an exploration is training its branches until step ")
                        + Invariant($"{_exploration.EndStep} of its last; only pause, resume, stop, evaluate and ")
                        + "save_checkpoint are applied meanwhile."),
                UpdateOptimizerCommand update => UpdateOptimizer(update),
                SaveCheckpointCommand save => $"saved {SaveCheckpoint(save.ToDisk).Id}",
                LoadCheckpointCommand load => LoadCheckpoint(load.CheckpointId),
                ModelLayerOperationCommand { Operation: LayerOperations.ResetParameters } reset => ResetLayer(reset.Layer),
                ModelLayerOperationCommand layer => _layerTraining.Apply(layer),
                SkipDataCommand skip => SkipData(skip.Batches),
                ExploreCommand explore => StartExploration(record, explore),
                ChooseBranchCommand choose => ChooseBranch(choose.Branch),
                UpdateDatasetCommand update => DatasetUpdated(_dataset.Update(update)),
                EvaluateCommand => EvaluateNow(),
                PauseCommand => SetPaused(true),
                ResumeCommand => SetPaused(false),
                StopCommand => RequestStop(),
                _ => throw new CommandRejectedException($"unknown command kind '{record.Command.Kind}'."),
            };
            if (record.Key is { } applied)
            {
                _appliedKeys.Add(applied);
            }
            Volatile.Write(ref _state, SnapshotState());
            if (result is not null)
            {
                _commands.Succeed(record, _step, result);
            }
        }
#pragma warning disable CA1031 // a command that cannot be applied fails with its reason; the run goes on
        catch (Exception error) when (error is not OutOfMemoryException)
#pragma warning restore CA1031
        {
            _commands.Fail(record, _step, error.Message);
        }
    }

    private string DatasetUpdated(string change)
    {
        _observer.OnEvent(new DatasetUpdatedEvent
        {
            Time = _time.GetUtcNow(), Step = _step, Branch = _branch, Mixture = _dataset.Mixture!, Change = change,
        });
        return change;
    }

    private static bool AllowedWhileExploring(TrainerCommand command) => command
        is PauseCommand or ResumeCommand or StopCommand or EvaluateCommand or SaveCheckpointCommand or ChooseBranchCommand;

    /// <summary>Starts an exploration at this boundary (its command succeeds when it ends; see
    /// <see cref="AdvanceExploration"/>): the present kept as a checkpoint, the first candidate set up.</summary>
    private string? StartExploration(CommandRecord record, ExploreCommand explore)
    {
        if (ExplorationProblem(explore) is { } problem)
        {
            throw new CommandRejectedException(problem);
        }
        StartRound(record, explore, round: 1);
        return null;
    }

    /// <summary>Why a round of <paramref name="explore"/> cannot start here (null when it can).</summary>
    private string? ExplorationProblem(ExploreCommand explore)
    {
        long needed = explore.Steps * explore.LearningRateFactors.Count;
        return _step + explore.Steps > _options.Steps
            ? Invariant($"branches of {explore.Steps} steps from step {_step} would end past the run's last step ")
                + Invariant($"{_options.Steps}.")
            : _budget.StepsLeft < needed
                ? Invariant($"exploring {explore.LearningRateFactors.Count} branches of {explore.Steps} steps trains ")
                    + Invariant($"{needed} steps; the budget has {_budget.StepsLeft} left.")
                : null;
    }

    /// <summary>A round from the present, kept as a checkpoint; its first candidate set up.</summary>
    private void StartRound(CommandRecord record, ExploreCommand explore, int round)
    {
        CheckpointInfo fork = SaveCheckpoint(toDisk: false);
        _exploration = new Exploration(record, explore, _step, Checkpoints.Load(fork.Id), _baseLearningRate, round)
        {
            ForkCheckpointId = fork.Id,
        };
        StartCandidate(_exploration);
    }

    /// <summary>Sets up the next candidate: the current settings go on on the current branch; any other starts from
    /// the fork's state on a branch of its own, at its lr.</summary>
    private void StartCandidate(Exploration exploration)
    {
        double factor = exploration.Factors[exploration.Current];
        if (exploration.Current == 0 && factor == 1)
        {
            return;
        }
        TrainerPosition position = Restore(exploration.ForkState);
        BranchInfo branch = Branches.Fork(position.Branch, position.Step, exploration.ForkCheckpointId);
        _observer.OnEvent(new BranchCreatedEvent
        {
            Time = _time.GetUtcNow(), Step = position.Step, Branch = branch.Id, ParentBranch = position.Branch,
            ForkStep = position.Step, CheckpointId = exploration.ForkCheckpointId,
        });
        MoveTo(position, branch.Id);
        _baseLearningRate = exploration.BaseLearningRate * factor;
        Volatile.Write(ref _state, SnapshotState());
    }

    /// <summary>At a boundary: when the candidate training reached its last step, it is evaluated and kept; then the
    /// next one starts, or, after the last, the run continues on the best (its command succeeds).</summary>
    private void AdvanceExploration()
    {
        if (_exploration is not { } exploration || exploration.Done || _step < exploration.EndStep)
        {
            return; // none, its candidate still training, or all done and a person's choice awaited
        }
        double valLoss = _lastEvaluatedStep == _step ? _lastValLoss ?? double.NaN : Evaluate().ValLoss;
        exploration.Finished(_branch, valLoss, Capture(CurrentPosition()));
        if (!exploration.Done)
        {
            StartCandidate(exploration);
            return;
        }
        (ExploredBranch winner, byte[] state, string reason) = exploration.Choose();
        ExploreCommand explore = exploration.Command;
        bool anotherRound = Exploration.AtTheEdge(winner, exploration.Factors) && exploration.Round < explore.MaxRounds
            && ExplorationProblem(explore) is null;
        if (!anotherRound && explore.ChooseBy == BranchChoice.Person)
        {
            AwaitChoice(exploration, winner, reason);
            return;
        }
        Continue(exploration, winner, state, reason);
        if (anotherRound)
        {
            StartRound(exploration.Record, explore, exploration.Round + 1);
            Volatile.Write(ref _state, SnapshotState());
            return;
        }
        _commands.Succeed(exploration.Record, _step,
            Invariant($"explored {exploration.Round} round(s), the last from step {exploration.ForkStep}; ")
            + Invariant($"continuing on branch {winner.Branch} at lr {winner.LearningRate:G4}: {reason}"));
    }

    /// <summary>The run continues on the branch chosen, from where it ended; the round's figures are recorded.</summary>
    private void Continue(Exploration exploration, ExploredBranch chosen, byte[] state, string reason)
    {
        if (chosen.Branch != _branch)
        {
            MoveTo(Restore(state), chosen.Branch);
        }
        _exploration = null;
        Volatile.Write(ref _state, SnapshotState());
        _observer.OnEvent(new ExplorationFinishedEvent
        {
            Time = _time.GetUtcNow(), Step = _step, Branch = _branch, CommandId = exploration.Record.Id,
            Round = exploration.Round, ForkStep = exploration.ForkStep, Candidates = exploration.Results,
            ChosenBranch = chosen.Branch, Reason = reason,
        });
    }

    /// <summary>The last round is done and a person picks: the run pauses (still exploring: nothing else is applied
    /// but pause, resume, stop, evaluate, save and the choice) until a choose_branch.</summary>
    private void AwaitChoice(Exploration exploration, ExploredBranch suggested, string reason)
    {
        _paused = true;
        Volatile.Write(ref _state, SnapshotState());
        _observer.OnEvent(new BranchChoiceAwaitedEvent
        {
            Time = _time.GetUtcNow(), Step = _step, Branch = _branch, CommandId = exploration.Record.Id,
            Candidates = exploration.Results, SuggestedBranch = suggested.Branch, Reason = reason,
        });
    }

    private string ChooseBranch(int branch)
    {
        if (_exploration is not { Done: true, Command.ChooseBy: BranchChoice.Person } exploration)
        {
            throw new CommandRejectedException("no exploration waits for a person's choice of branch.");
        }
        if (exploration.Candidate(branch) is not { } chosen)
        {
            throw new CommandRejectedException(Invariant($"branch {branch} is not one of the exploration's last ")
                + $"round: {string.Join(", ", exploration.Results.Select(r => r.Branch))}.");
        }
        Continue(exploration, chosen.Figures, chosen.State, "chosen by a person");
        _paused = false;
        Volatile.Write(ref _state, SnapshotState());
        string result = Invariant($"continuing on branch {branch} at lr {chosen.Figures.LearningRate:G4}");
        _commands.Succeed(exploration.Record, _step, $"explored {exploration.Round} round(s); a person chose: {result}");
        return result;
    }

    private string UpdateOptimizer(UpdateOptimizerCommand update)
    {
        var changes = new List<string>();
        // First, like weight decay below: with too few norms measured the command fails whole.
        double? clip = update.GradClipPercentile is { } percentile ? _guards.Percentile(percentile) : update.GradClip;
        double learningRate = update.LearningRate ?? _baseLearningRate * (update.LearningRateFactor ?? 1);
        if (!double.IsFinite(learningRate) || learningRate <= 0 || learningRate > NumericLimits.MaxLearningRate)
        {
            string limit = Invariant($"{NumericLimits.MaxLearningRate:G4}");
            throw new CommandRejectedException(
                Invariant($"the resulting learning rate {learningRate:G4} is not above 0 and at most {limit}."));
        }
        if (update.WeightDecay is { } newDecay)
        {
            // First: an optimizer whose decay cannot be set fails the command whole.
            _optimizer.SetWeightDecay(newDecay);
        }
        if (update.LearningRate is not null || update.LearningRateFactor is not null)
        {
            changes.Add(Change("lr", _baseLearningRate, learningRate));
            _baseLearningRate = learningRate;
        }
        if (update.WeightDecay is { } decay)
        {
            changes.Add(Change("weight_decay", _weightDecay, decay));
            _weightDecay = decay;
        }
        if (clip is { } threshold)
        {
            string from = update.GradClipPercentile is { } p ? Invariant($" (p{p:G4} of recent gradient norms)") : "";
            changes.Add(Change("grad_clip", _gradClip, threshold) + from);
            _gradClip = threshold;
        }
        return string.Join("; ", changes);
    }

    private static string Change(string name, double before, double after) =>
        Invariant($"{name} {before:G4} -> {after:G4}");

    private CheckpointInfo SaveCheckpoint(bool toDisk)
    {
        TrainerPosition position = CurrentPosition();
        (CheckpointInfo info, IReadOnlyList<string> pruned) = Checkpoints.Add(position, Capture(position), toDisk);
        DateTimeOffset now = _time.GetUtcNow();
        _observer.OnEvent(new CheckpointSavedEvent
        {
            Time = now, Step = _step, Branch = _branch, CheckpointId = info.Id, Path = info.Path, Bytes = info.Bytes,
        });
        foreach (string id in pruned)
        {
            _observer.OnEvent(new CheckpointPrunedEvent
            {
                Time = now, Step = _step, Branch = _branch, CheckpointId = id,
            });
        }
        return info;
    }

    private TrainerPosition CurrentPosition() => new(
        _step, _dataPosition, _branch, _baseLearningRate, _weightDecay, _gradClip,
        [.. _appliedKeys.Order(StringComparer.Ordinal)],
        ModelSignature, _lastEvaluatedStep == _step ? _lastValLoss : null, _budget.TrainedSteps, _lastValLoss,
        _guards.Save(), _layerTraining.Save(), _dataset.Mixture);

    private byte[] Capture(TrainerPosition position) =>
        CheckpointSerializer.Capture(position, _target.Model, _optimizer.Optimizer, _target.SaveState, _captureBuffer);

    private TrainerPosition Restore(byte[] payload) =>
        CheckpointSerializer.Restore(payload, _target.Model, _optimizer.Optimizer, _target.LoadState);

    /// <summary>Restores a checkpoint into the model and optimizer. One of another model is refused
    /// before anything is touched; one that fails part-way (an older checkpoint without a signature)
    /// is undone: either way the trainer is left exactly as it was.</summary>
    private TrainerPosition Restore(string checkpointId)
    {
        byte[] payload = Checkpoints.Load(checkpointId); // verified against its checksum
        TrainerPosition held = CheckpointSerializer.ReadPosition(payload);
        if (Foreign(held) is { } problem)
        {
            throw new CheckpointException($"{checkpointId} {problem}");
        }
        byte[] before = Capture(CurrentPosition());
        TrainerPosition position;
#pragma warning disable CA1031 // whatever libtorch throws, the state before is put back and the load fails
        try
        {
            position = Restore(payload);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            Restore(before);
            throw new CheckpointException(
                $"{checkpointId} does not fit this model ({ModelSignature}): {error.Message}", error);
        }
#pragma warning restore CA1031
        try
        {
            _dataset.Prepare(position.Mixture); // its data must be there before the trainer moves to it
        }
        catch (Data.DataSetException error)
        {
            Restore(before);
            throw new CheckpointException($"{checkpointId} cannot be restored: {error.Message}", error);
        }
        return position;
    }

    /// <summary>Why a checkpoint was not taken from this model, or null when it was (or cannot tell).</summary>
    public string? Foreign(TrainerPosition position) =>
        position.Model is { } model && model != ModelSignature
            ? $"was taken from another model ({model}); this run's is {ModelSignature}."
            : null;

    private string LoadCheckpoint(string checkpointId)
    {
        TrainerPosition position = Restore(checkpointId);
        BranchInfo branch = Branches.Fork(_branch, position.Step, checkpointId);
        _observer.OnEvent(new BranchCreatedEvent
        {
            Time = _time.GetUtcNow(), Step = position.Step, Branch = branch.Id, ParentBranch = _branch,
            ForkStep = position.Step, CheckpointId = checkpointId,
        });
        MoveTo(position, branch.Id);
        _faults.EndBurst();
        return Invariant($"restored {checkpointId} (step {position.Step}); continuing on branch {branch.Id}");
    }

    private void MoveTo(TrainerPosition position, int branch)
    {
        _step = position.Step;
        _dataPosition = position.DataPosition;
        _branch = branch;
        _baseLearningRate = position.BaseLearningRate;
        _weightDecay = position.WeightDecay;
        _gradClip = position.GradClip;
        _guards.Restore(position.Guards);
        _layerTraining.Restore(position.Layers);
        bool mixtureChanged = _dataset.Restore(position.Mixture);
        _consecutiveNonFinite = 0;
        _lastEvaluatedStep = -1;
        _lastValLoss = position.LineageValLoss; // the latest evaluation of the lineage now resumed
        _weightChange.Restart();
        Volatile.Write(ref _state, SnapshotState());
        if (mixtureChanged)
        {
            DatasetUpdated("restored with the checkpoint");
        }
    }

    private string ResetLayer(string layer)
    {
        Parameter[] parameters = _layers.Reset(layer);
        _optimizer.ResetState(parameters);
        _weightChange.Restart();
        long count = parameters.Sum(p => p.numel());
        return Invariant($"re-initialised {layer} ({count} parameters) and cleared its optimizer state");
    }

    /// <summary>Passes over the next batches untrained (the data position moves; the step does not).</summary>
    private string SkipData(long batches)
    {
        if (_taskStep is null)
        {
            throw new CommandRejectedException(
                "your own loop keeps its own data position; skip_data reaches built-in and registered tasks only.");
        }
        long from = _dataPosition;
        _dataPosition += batches;
        return Invariant($"skipped {batches} batches (data position {from} -> {_dataPosition})");
    }

    private string SetPaused(bool paused)
    {
        _paused = paused;
        return paused ? "paused" : "resumed";
    }

    private string RequestStop()
    {
        _stopRequested = true;
        return "stopping after writing a checkpoint";
    }

    private void InjectFaults()
    {
        foreach (FaultOptions fault in _faults.Strike(_step))
        {
            string description = fault.Kind switch
            {
                FaultKinds.LrSpike => ScaleLearningRate(fault.Factor),
                FaultKinds.CorruptBatches => Invariant($"the next {fault.Count} batches are corrupt"),
                FaultKinds.ScaleLayer => ScaleLayer(fault.Layer, fault.Factor),
                FaultKinds.DataArrives => DataArrives(fault.Path),
                _ => ScaleLayer(fault.Layer, 0),
            };
            _observer.OnEvent(new FaultInjectedEvent
            {
                Time = _time.GetUtcNow(), Step = _step, Branch = _branch, Kind = fault.Kind, Description = description,
            });
        }
    }

    private string ScaleLearningRate(double factor)
    {
        double before = _baseLearningRate;
        _baseLearningRate = Math.Min(_baseLearningRate * factor, NumericLimits.MaxLearningRate);
        return Change("lr", before, _baseLearningRate)
            + (_baseLearningRate < before * factor
                ? Invariant($" (held at the maximum {NumericLimits.MaxLearningRate:G4})")
                : "");
    }

    /// <summary>New data arrives: the file is copied into the run's own incoming folder (written aside, then moved in
    /// whole, as a watcher expects).</summary>
    private string DataArrives(string path)
    {
        string folder = Path.Combine(_options.Out, FaultKinds.IncomingFolder);
        Directory.CreateDirectory(folder);
        string target = Path.Combine(folder, Path.GetFileName(path));
        File.Copy(path, target + ".tmp", overwrite: true);
        File.Move(target + ".tmp", target, overwrite: true);
        return $"{path} arrived in {folder}";
    }

    private string ScaleLayer(string layer, double factor)
    {
        _layers.Scale(layer, factor);
        _weightChange.Restart();
        return Invariant($"{layer} parameters multiplied by {factor:G4}");
    }

    private EvaluationMetrics Evaluate(int? maxBatches = null)
    {
        TaskEvaluation evaluation = _target.Evaluate(maxBatches ?? _options.EvalBatches);
        List<LayerHealth> layers = _layers.Health(evaluation.DeadFractions, _weightChange.Measure(_step));
        var metrics = new EvaluationMetrics(
            _step, _branch, evaluation.Loss, evaluation.Accuracy, evaluation.BitsPerChar, layers);
        _lastEvaluatedStep = _step;
        _lastValLoss = evaluation.Loss;
        _observer.OnEvaluation(metrics);
        return metrics;
    }

    private static string DescribeEvaluation(EvaluationMetrics metrics) =>
        Invariant($"val_loss {metrics.ValLoss:F4}")
        + (metrics.Accuracy is { } accuracy ? Invariant($", accuracy {accuracy:F4}") : "")
        + (metrics.BitsPerChar is { } bits ? Invariant($", bits/char {bits:F4}") : "");

    private RunState SnapshotState() =>
        new(_step, _options.Steps, _branch, _baseLearningRate * _schedule.Multiplier(_step), _baseLearningRate, _paused,
            _lastLoss, _budget.TrainedSteps, _budget.StepsLeft, _exploration is not null);

    private void ReportCommandStatus(CommandRecord record, CommandStatusChange change)
    {
        RunState state = State;
        _observer.OnEvent(CommandEvent.Of(record, change, state.Step, state.Branch));
    }

    public void Dispose()
    {
        _commands.StatusChanged -= ReportCommandStatus;
        if (_taskStep is not null)
        {
            _optimizer.Dispose(); // the trainer's own; your loop's optimizer is yours
        }
        _weightChange.Dispose();
        _captureBuffer.Dispose();
    }
}

/// <summary>A command that is valid in itself but cannot be applied to the run as it is now.</summary>
public sealed class CommandRejectedException(string message) : Exception(message);
