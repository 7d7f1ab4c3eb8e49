using System.Collections.Concurrent;
using System.Runtime.ExceptionServices;
using System.Threading.Channels;
using AgentTrainer.Agents.Decisions;
using AgentTrainer.Agents.Storage;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;
using AgentTrainer.Core.Summaries;

namespace AgentTrainer.Agents.Supervision;

/// <summary>Watches the run and asks the agent when a <see cref="TriggerDetector"/> says so. Everything the run
/// reports, every verdict the agent asks for and every review poll goes into one channel, consumed by one
/// loop (<see cref="LoopAsync"/>), the only code that touches the parts: the <see cref="NonFiniteGuard"/>,
/// the <see cref="InterventionDispatcher"/>, the <see cref="ReviewWorkflow"/> and the
/// <see cref="EffectTracker"/>. The model is called off the loop; the run is held only where it must be:
/// at a non-finite loss until the guard has acted, and with PauseWhileDeciding until the decision is made.</summary>
public sealed class AgentSupervisor : IRunObserver, IRunSummaryContributor, IAsyncDisposable
{
    /// <summary>Each decision's final tool call, one JSON line each: a transcript the replay provider can
    /// re-run.</summary>
    public const string TranscriptFile = "decisions.jsonl";

    /// <summary>A non-finite loss within this many steps puts the run in trouble (the gate lets it roll back
    /// further).</summary>
    private const long RecentNonFiniteSteps = 100;

    private static readonly TimeSpan ReviewPollInterval = TimeSpan.FromMilliseconds(500);

    private readonly Channel<Signal> _signals = Channel.CreateUnbounded<Signal>(new() { SingleReader = true });
    private readonly AgentOptions _options;
    private readonly TrainingAgent _agent;
    private readonly PolicyGate _gate;
    private readonly ReviewQueue _reviews;
    private readonly TimeProvider _time;
    private readonly DecisionLog _log;
    private readonly CancellationTokenSource _stopping = new();
    private readonly TriggerDetector _triggers; // the run's thread: it decides whether to hold the run
    private readonly RunHistory _history = new();
    private readonly EffectTracker _effects;
    private readonly InterventionDispatcher _dispatcher;
    private readonly NonFiniteGuard _guard;
    private ReviewWorkflow? _reviewWorkflow;
    private SupervisionReports? _reports;
    private ISupervisedRun? _run;
    private Resumption? _resumption;
    private Task? _loop;
    private Task? _reviewPolls;
    private Task? _decision;
    private StepSeen? _decisionFor;
    private bool _decisionOpen; // from a decision's start to its record, on the loop
    private readonly List<TaskCompletionSource> _settledAfterDecision = [];
    private SemaphoreSlim? _heldForDecision;
    private ExceptionDispatchInfo? _failure;
    private readonly HashSet<long> _commandSteps = []; // where commands took effect: their lr moves are explained
    private long _trained;
    private long _lastNonFiniteTrained = -1;
    private double _bestValLoss = double.PositiveInfinity;

    public AgentSupervisor(AgentOptions options, TrainingAgent agent, PolicyGate gate, CommandQueue commands,
        ReviewQueue reviews, TimeProvider time, JsonLinesWriter? transcript = null)
    {
        _options = options;
        _agent = agent;
        _gate = gate;
        _reviews = reviews;
        _time = time;
        _log = new DecisionLog(agent, gate.Policy, transcript);
        _triggers = new TriggerDetector(gate.Policy, options.DecideEvery);
        _effects = new EffectTracker(options.EffectWindowSteps);
        _dispatcher = new InterventionDispatcher(gate, commands, _effects);
        _guard = new NonFiniteGuard(gate.Policy);
    }

    /// <summary>Decisions taken so far (finished ones).</summary>
    public ConcurrentQueue<DecisionRecord> Decisions => _log.Decisions;

    public string SectionName => "agent";

    /// <summary>run.json's "agent" section: the morning report of what the agent did and why it could.</summary>
    public object DescribeRun() => _log.Report();

    /// <summary>Before <see cref="Attach"/>, for a resumed run: approved reviews whose command the resumed
    /// checkpoint does not contain are owed again (<see cref="ReviewWorkflow.ContinueAfterResume"/>), and
    /// rollbacks applied in the earlier sessions count against the policy's limits.</summary>
    public void ContinueAfterResume(
        IReadOnlyList<RunEvent> earlierEvents, IReadOnlySet<string> appliedKeys, string checkpointId)
    {
        if (_run is not null)
        {
            throw new InvalidOperationException("A resumed run's history is taken before the supervisor is attached.");
        }
        _resumption = new Resumption(earlierEvents, appliedKeys, checkpointId);
    }

    /// <summary>Connects to the run and starts the loop (and, under a policy that asks people, the review
    /// polls).</summary>
    public void Attach(ISupervisedRun run)
    {
        _run = run;
        _reports = new SupervisionReports(run.Events, _time);
        _reviewWorkflow = new ReviewWorkflow(_reviews, _gate, _dispatcher, _reports);
        if (_resumption is { } resumed)
        {
            _reviewWorkflow.ContinueAfterResume(resumed.AppliedKeys, resumed.CheckpointId);
            HashSet<string> succeeded = [.. resumed.Events.OfType<CommandEvent>()
                .Where(c => c.Status == CommandStatus.Succeeded).Select(c => c.Id)];
            _gate.RecordEarlierRollbacks(
                resumed.Events.OfType<ProposalEvent>().Count(p => p.Action == InterventionAction.RollbackCheckpoint
                    && p.Verdict == Verdict.Apply && p.CommandId is { } id && succeeded.Contains(id)),
                resumed.Events.OfType<BranchCreatedEvent>().Count(b => b.ForkStep == 0));
        }
        _loop = Task.Run(LoopAsync);
        if (_gate.Policy.ApprovalRequiredFor.Count > 0)
        {
            _reviewPolls = Task.Run(() => PollReviewsAsync(_stopping.Token));
        }
    }

    // ---- The run's side: called on the training thread (and, for events, wherever they happen). ----

    public void OnStep(StepMetrics metrics)
    {
        _failure?.Throw();
        // An exploration's branches are the run testing settings: nothing to decide on until it has chosen one.
        string? trigger = _run?.State.Exploring == true ? null : _triggers.Observe(metrics);
        // Held until the guard has acted on a non-finite loss; with PauseWhileDeciding, until the decision is made.
        bool holdThroughDecision = trigger is not null && _options.PauseWhileDeciding;
        bool held = _loop is not null && (metrics.NonFinite || holdThroughDecision);
        SemaphoreSlim? hold = held ? new SemaphoreSlim(0) : null;
        _signals.Writer.TryWrite(new StepSeen(metrics, trigger, hold, holdThroughDecision));
        if (hold is not null)
        {
            hold.Wait();
            hold.Dispose();
            _failure?.Throw();
        }
    }

    public void OnEvaluation(EvaluationMetrics metrics) => _signals.Writer.TryWrite(new EvaluationSeen(metrics));

    /// <summary>Command events feed the dispatcher and the reviews; the run's end waits until everything before
    /// it has been handled, so the run's records close complete.</summary>
    public void OnEvent(RunEvent runEvent)
    {
        if (runEvent is CommandEvent command)
        {
            _signals.Writer.TryWrite(new CommandEnded(command));
        }
        else if (runEvent is RunFinishedEvent finished && _loop is not null)
        {
            if (finished.Outcome != RunOutcomes.Interrupted) // a resumed run goes on with what waits
            {
                _signals.Writer.TryWrite(new RunEnded(finished.Step, finished.Branch));
            }
            SettledAsync().GetAwaiter().GetResult();
        }
    }

    /// <summary>Expires overdue reviews and queues approved ones now (the review page calls it at an
    /// approval).</summary>
    public Task ProcessReviewsAsync() => Post(done => new ReviewsDue(done));

    /// <summary>Completes when every signal posted before it has been handled and the decision in flight, if any,
    /// is recorded (the run's end waits on it: its last decision belongs in its records).</summary>
    public Task SettledAsync() => Post(done => new Settle(done));

    private Task Post(Func<TaskCompletionSource, Signal> signal)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        return _loop is not null && _signals.Writer.TryWrite(signal(done)) ? done.Task : Task.CompletedTask;
    }

    // ---- The loop: the one consumer of the channel. ----

    private async Task LoopAsync()
    {
        await foreach (Signal signal in _signals.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            try
            {
                if (_failure is null)
                {
                    Handle(signal);
                }
            }
            catch (Exception error) when (signal is ReviewsDue due)
            {
                due.Done?.TrySetException(error); // a poll's trouble is its caller's (the next poll tries again)
            }
            catch (Exception error)
            {
                _failure = ExceptionDispatchInfo.Capture(error); // the run fails with it at its next step
            }
            finally
            {
                Release(signal);
            }
        }
        ReleaseSettled(); // the loop is closing: nothing more will be recorded
    }

    private void ReleaseSettled()
    {
        foreach (TaskCompletionSource settled in _settledAfterDecision)
        {
            settled.TrySetResult();
        }
        _settledAfterDecision.Clear();
    }

    private void Handle(Signal signal)
    {
        switch (signal)
        {
            case StepSeen seen:
                OnStepSeen(seen);
                break;
            case EvaluationSeen evaluation:
                _history.Add(evaluation.Metrics);
                if (double.IsFinite(evaluation.Metrics.ValLoss))
                {
                    _bestValLoss = Math.Min(_bestValLoss, evaluation.Metrics.ValLoss); // on any branch: the run's best
                }
                break;
            case CommandEnded ended:
                if (ended.Command.Status == CommandStatus.Succeeded)
                {
                    _commandSteps.Add(ended.Command.Step);
                }
                _reviewWorkflow!.Follow(ended.Command);
                _dispatcher.Ended(ended.Command, _trained, CheckpointsNow());
                break;
            case ReviewsDue:
                _reviewWorkflow!.ProcessDue(_run!.State, GateStateNow());
                break;
            case JudgeRequest request:
                request.Verdict.TrySetResult(Judge(request.Proposal, request.SummaryText));
                break;
            case RunEnded ended:
                _reviewWorkflow!.EndOfRun(ended.Step, ended.Branch);
                break;
            case DecisionFinished { Record: { } record }:
                _log.Add(record, _reports!);
                break;
        }
    }

    /// <summary>Completes what waits on a signal: its caller, or the run held for it.</summary>
    private void Release(Signal signal)
    {
        switch (signal)
        {
            case StepSeen { Hold: { } hold } seen:
                if (seen.HoldThroughDecision && ReferenceEquals(_decisionFor, seen))
                {
                    _heldForDecision = hold; // released when the decision is recorded
                }
                else
                {
                    hold.Release();
                }
                break;
            case DecisionFinished:
                _heldForDecision?.Release(); // the loop's own field: no other thread touches it
                _heldForDecision = null;
                _decisionOpen = false;
                ReleaseSettled();
                break;
            case JudgeRequest request:
                request.Verdict.TrySetResult(Stopping);
                break;
            case ReviewsDue { Done: { } done }:
                done.TrySetResult();
                break;
            case Settle settle when _decisionOpen:
                _settledAfterDecision.Add(settle.Done);
                break;
            case Settle settle:
                settle.Done.TrySetResult();
                break;
        }
    }

    private void OnStepSeen(StepSeen seen)
    {
        StepMetrics metrics = seen.Metrics;
        _history.Add(metrics);
        _trained++;
        foreach (MeasuredEffect effect in _effects.Observe(metrics))
        {
            _reports!.Effect(metrics.Step + 1, metrics.Branch, effect); // the run's step once this one is done
        }
        if (metrics.NonFinite)
        {
            _lastNonFiniteTrained = _trained;
            if (!_dispatcher.GuardBusy && _guard.Propose(metrics, _run!.State, CheckpointsNow()) is { } proposal)
            {
                Judge(proposal, $"guard: non-finite loss at step {metrics.Step}");
            }
        }
        bool decisionFree = _decision is not { IsCompleted: false } && !_stopping.IsCancellationRequested;
        if (seen.Trigger is { } trigger && decisionFree)
        {
            TrainingSummary summary = Summarise(trigger);
            _decisionFor = seen;
            _decisionOpen = true;
            _decision = Task.Run(() => DecideAsync(summary));
        }
    }

    /// <summary>The model's turn, off the loop: each proposal is judged on the loop, and the record comes
    /// back to it.</summary>
    private async Task DecideAsync(TrainingSummary summary)
    {
        DecisionRecord? record = null;
        try
        {
            record = await _agent.DecideAsync(summary, JudgeOnLoop, _stopping.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // the run is ending
        }
        catch (Exception error)
        {
            _failure ??= ExceptionDispatchInfo.Capture(error); // the run fails with it at its next step
        }
        finally
        {
            _signals.Writer.TryWrite(new DecisionFinished(record));
        }
    }

    private GateDecision JudgeOnLoop(Proposal proposal, string summaryText)
    {
        var verdict = new TaskCompletionSource<GateDecision>(TaskCreationOptions.RunContinuationsAsynchronously);
        return _signals.Writer.TryWrite(new JudgeRequest(proposal, summaryText, verdict))
            ? verdict.Task.GetAwaiter().GetResult()
            : Stopping;
    }

    private static GateDecision Stopping =>
        new(Verdict.Refuse, "run.stopping", "the run is stopping; nothing more is applied.");

    /// <summary>The gate's verdict on a proposal, carried out: a command, a review entry, or nothing.</summary>
    private GateDecision Judge(Proposal proposal, string summaryText)
    {
        GateDecision decision = _gate.Decide(proposal, GateStateNow());
        RunState state = _run!.State;
        string? commandId = decision.Verdict == Verdict.Apply ? _dispatcher.Apply(proposal, CheckpointsNow()) : null;
        if (decision.Verdict == Verdict.Review)
        {
            decision = _reviewWorkflow!.Ask(proposal, decision, summaryText, state, GateStateNow());
        }
        _reports!.Proposal(state, proposal, decision, commandId);
        return decision;
    }

    private TrainingSummary Summarise(string trigger)
    {
        RunState state = _run!.State;
        (IReadOnlyList<StepMetrics> steps, IReadOnlyList<EvaluationMetrics> evaluations) = _history.Snapshot();
        GateState gateState = GateStateNow();
        RunBudget budget = _run.Budget;
        var context = new SummaryContext(state.Step, state.TotalSteps, state.Branch, state.LearningRate,
            state.BaseLearningRate, trigger, _trained - _dispatcher.LastAppliedTrained, _effects.Interventions(),
            gateState.Checkpoints, _gate.Limits(gateState),
            new BudgetSummary(state.TrainedSteps, budget.MaxTrainedSteps, state.BudgetStepsLeft, budget.Deadline),
            _commandSteps, Rejections(state.Step));
        return SummaryBuilder.Build(steps, evaluations, context);
    }

    /// <summary>What people rejected within the policy's cooldown (read only under a policy that asks them).</summary>
    private IReadOnlyList<Rejection> Rejections(long step) => _gate.Policy.ApprovalRequiredFor.Count == 0 ? [] :
        [.. _reviews.List(ReviewStatus.Rejected).Where(r => Math.Abs(step - r.Step) < _gate.Policy.RejectionCooldownSteps)
            .Select(r => new Rejection(r.Action, r.CheckpointId ?? r.Layer, r.Step, r.Reviewer, r.Comment))];

    private GateState GateStateNow()
    {
        RunState state = _run!.State;
        IReadOnlyList<CheckpointSummary> checkpoints = CheckpointsNow();
        (_, IReadOnlyList<EvaluationMetrics> evaluations) = _history.Snapshot();
        // This session's evaluations, and the checkpoints of earlier ones.
        double best = checkpoints.Select(c => c.ValLoss ?? double.PositiveInfinity).Where(double.IsFinite)
            .Append(_bestValLoss).Min();
        bool recentNonFinite = _lastNonFiniteTrained >= 0 && _trained - _lastNonFiniteTrained <= RecentNonFiniteSteps;
        return new GateState(
            state.Step, state.Branch, _trained, state.BaseLearningRate, state.LearningRate, checkpoints,
            _run.Layers, double.IsFinite(best) ? best : null, evaluations.Count > 0 ? evaluations[^1].ValLoss : null,
            recentNonFinite, state.BudgetStepsLeft);
    }

    private IReadOnlyList<CheckpointSummary> CheckpointsNow() =>
        [.. _run!.Checkpoints.Select(c => new CheckpointSummary(c.Id, c.Step, c.Branch, c.ValLoss, c.LastValLoss))];

    private async Task PollReviewsAsync(CancellationToken stopping)
    {
        using var timer = new PeriodicTimer(ReviewPollInterval, _time);
        try
        {
            while (await timer.WaitForNextTickAsync(stopping).ConfigureAwait(false))
            {
                _signals.Writer.TryWrite(new ReviewsDue(null));
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
    }

    /// <summary>Stops the model and the polls, lets the loop serve the last decision's verdicts, then drains
    /// it.</summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (Task? task in new[] { _reviewPolls, _decision })
        {
            if (task is not null)
            {
                await task.ConfigureAwait(false);
            }
        }
        _signals.Writer.TryComplete();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
        _stopping.Dispose();
        await _log.DisposeAsync().ConfigureAwait(false);
    }

    private abstract record Signal;

    /// <param name="Hold">released once the step is handled (with HoldThroughDecision: its decision made)</param>
    private sealed record StepSeen(
        StepMetrics Metrics, string? Trigger, SemaphoreSlim? Hold, bool HoldThroughDecision) : Signal;

    private sealed record EvaluationSeen(EvaluationMetrics Metrics) : Signal;

    private sealed record CommandEnded(CommandEvent Command) : Signal;

    private sealed record ReviewsDue(TaskCompletionSource? Done) : Signal;

    private sealed record Settle(TaskCompletionSource Done) : Signal;

    private sealed record JudgeRequest(
        Proposal Proposal, string SummaryText, TaskCompletionSource<GateDecision> Verdict) : Signal;

    private sealed record DecisionFinished(DecisionRecord? Record) : Signal;

    private sealed record RunEnded(long Step, int Branch) : Signal;

    private sealed record Resumption(
        IReadOnlyList<RunEvent> Events, IReadOnlySet<string> AppliedKeys, string CheckpointId);
}
