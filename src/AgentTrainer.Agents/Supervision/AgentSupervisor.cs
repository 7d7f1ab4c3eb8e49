using System.Collections.Concurrent;
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

/// <summary>Watches the run and asks the agent: every DecideEvery steps, and at once on a loss spike
/// or a gradient-norm explosion. A NaN/Inf loss is handled by the policy's guard with no model at all.
/// Decisions run off the training thread (unless PauseWhileDeciding); what the gate applies becomes a
/// command, applied at the next step boundary. Approved reviews are picked up, re-validated and queued.
/// Every decision, proposal, review and measured effect is reported as a run event.</summary>
public sealed class AgentSupervisor : IRunObserver, IRunSummaryContributor, IAsyncDisposable
{
    /// <summary>Each decision's final tool call, one JSON line each: a transcript the replay provider can re-run.</summary>
    public const string TranscriptFile = "decisions.jsonl";
    private const int TriggerWindow = 50;
    private readonly JsonLinesWriter? _transcript;
    private readonly AgentOptions _options;
    private readonly TrainingAgent? _agent;
    private readonly PolicyGate _gate;
    private readonly CommandQueue _commands;
    private readonly ReviewQueue _reviews;
    private readonly TimeProvider _time;
    private readonly RunHistory _history = new();
    private readonly ConcurrentDictionary<string, Proposal> _dispatched = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _reviewCommands = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, bool> _approvedBeforeRestart = new(StringComparer.Ordinal);
    private readonly List<PendingEffect> _pendingEffects = [];
    private readonly List<InterventionOutcome> _outcomes = [];
    private readonly List<(long Step, double Factor)> _lrDecisions = [];
    private readonly Lock _effectsGate = new();
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<double> _recentLosses = [];
    private readonly List<double> _recentGradNorms = [];
    private ISupervisedRun? _run;
    private IRunObserver _events = NoEvents.Instance;
    private Task? _decision;
    private Task? _reviewLoop;
    private CommandRecord? _guardCommand;
    private long _trained;
    private long? _lastAppliedTrained;
    private long _lastTriggerTrained = long.MinValue;
    private long _lastNonFiniteTrained = -1;
    private double _bestValLoss = double.PositiveInfinity;

    public AgentSupervisor(AgentOptions options, TrainingAgent? agent, PolicyGate gate, CommandQueue commands, ReviewQueue reviews, TimeProvider time,
        JsonLinesWriter? transcript = null)
    {
        _transcript = transcript;
        _options = options;
        _agent = agent;
        _gate = gate;
        _commands = commands;
        _reviews = reviews;
        _time = time;
    }

    /// <summary>Decisions taken so far (finished ones).</summary>
    public ConcurrentQueue<DecisionRecord> Decisions { get; } = new();

    public string SectionName => "agent";

    /// <summary>run.json's "agent" section: the morning report of what the agent did and why it could.</summary>
    public object DescribeRun()
    {
        DecisionRecord[] decisions = [.. Decisions];
        GatedProposal[] proposals = [.. decisions.SelectMany(d => d.Proposals)];
        return new AgentRunReport(
            _agent?.Provider ?? AgentProviders.None,
            _agent?.ModelId,
            _gate.Policy.Name,
            decisions.Length,
            new SortedDictionary<string, int>(proposals.Where(p => p.Decision.Verdict == Verdict.Apply)
                .GroupBy(p => InterventionActions.Name(p.Proposal.Action)).ToDictionary(g => g.Key, g => g.Count()), StringComparer.Ordinal),
            proposals.Count(p => p.Decision.Verdict == Verdict.Review),
            proposals.Count(p => p.Decision.Verdict == Verdict.Refuse),
            decisions.Sum(d => d.ModelErrors.Count),
            decisions.Sum(d => d.Turns.Count(t => t.Trace.Outcome != Resilience.ModelCallOutcomes.Ok)),
            [.. proposals.Where(p => p.Decision.Verdict != Verdict.Refuse && p.Proposal.Action != InterventionAction.KeepLearningRate)
                .Select(p => $"step {p.Proposal.BasedOnStep} branch {p.Proposal.BasedOnBranch}: {p.Proposal.Describe()} ({p.Decision.Verdict.ToString().ToLowerInvariant()}): {p.Proposal.Reason}")]);
    }

    /// <summary>Connects to the run, and to its observers for the events it reports.</summary>
    public void Attach(ISupervisedRun run)
    {
        _run = run;
        _events = run.Events;
        // Only a policy that sends proposals to review can have approvals to pick up.
        if (_gate.Policy.ApprovalRequiredFor.Count > 0)
        {
            _reviewLoop = Task.Run(() => ReviewLoopAsync(_stopping.Token));
        }
    }

    public void OnStep(StepMetrics metrics)
    {
        _history.Add(metrics);
        long trained = Interlocked.Increment(ref _trained);
        MeasureEffects(trained);
        if (metrics.NonFinite)
        {
            Interlocked.Exchange(ref _lastNonFiniteTrained, trained);
            Guard(metrics);
            StartDecision("non_finite_loss", trained);
            return;
        }
        string? trigger = Trigger(metrics);
        Remember(_recentLosses, metrics.Loss);
        Remember(_recentGradNorms, metrics.GradNorm);
        if (trigger is not null)
        {
            StartDecision(trigger, trained);
        }
    }

    public void OnEvaluation(EvaluationMetrics metrics)
    {
        _history.Add(metrics);
        if (double.IsFinite(metrics.ValLoss))
        {
            lock (_effectsGate)
            {
                _bestValLoss = Math.Min(_bestValLoss, metrics.ValLoss); // on any branch: the run's best
            }
        }
    }

    public void OnEvent(RunEvent runEvent)
    {
        if (runEvent is not CommandEvent command)
        {
            return;
        }
        if (command.Status.IsFinal() && _reviewCommands.TryRemove(command.Id, out string? reviewed))
        {
            FollowReviewedCommand(reviewed, command);
        }
        if (command.Status != CommandStatus.Succeeded || !_dispatched.TryRemove(command.Id, out Proposal? proposal))
        {
            return;
        }
        long trained = Interlocked.Read(ref _trained);
        bool startOver = proposal.Action == InterventionAction.RollbackCheckpoint
            && _run!.Checkpoints.FirstOrDefault(c => c.Id == proposal.CheckpointId) is { } target && PolicyGate.IsStartOver(Summary(target));
        _gate.RecordApplied(proposal, trained, startOver);
        _lastAppliedTrained = trained;
        lock (_effectsGate)
        {
            if (proposal.Action is InterventionAction.HalveLearningRate or InterventionAction.DoubleLearningRate)
            {
                _lrDecisions.Add((command.Step, proposal.Action == InterventionAction.HalveLearningRate ? 0.5 : 2.0));
            }
            double before = _recentLosses.Count > 0 ? _recentLosses.TakeLast(_options.EffectWindowSteps).Average() : double.NaN;
            _pendingEffects.Add(new PendingEffect(proposal, command.Step, trained, before));
        }
    }

    private string? Trigger(StepMetrics metrics)
    {
        if (_agent is null)
        {
            return null;
        }
        if (_recentLosses.Count >= 20 && _trained - _lastTriggerTrained > 10)
        {
            Policy policy = _gate.Policy;
            // The median is at least the minimum: the cheap test rules most steps out without sorting.
            if (metrics.Loss > policy.LossSpikeFactor * _recentLosses.Min() && metrics.Loss > policy.LossSpikeFactor * SummaryBuilder.Median(_recentLosses))
            {
                return "loss_spike";
            }
            if (metrics.GradNorm > policy.GradNormExplosionFactor * _recentGradNorms.Min() && metrics.GradNorm > policy.GradNormExplosionFactor * SummaryBuilder.Median(_recentGradNorms))
            {
                return "grad_norm_explosion";
            }
        }
        return (metrics.Step + 1) % _options.DecideEvery == 0 ? "scheduled" : null;
    }

    private void StartDecision(string trigger, long trained)
    {
        if (_agent is null || _run is null || (_decision is { IsCompleted: false }))
        {
            return;
        }
        _lastTriggerTrained = trained;
        TrainingSummary summary = Summarise(trigger);
        _decision = Task.Run(() => DecideAsync(_agent, summary));
        if (_options.PauseWhileDeciding)
        {
            _decision.GetAwaiter().GetResult();
        }
    }

    private async Task DecideAsync(TrainingAgent agent, TrainingSummary summary)
    {
        DecisionRecord record = await agent.DecideAsync(summary, Judge, _stopping.Token).ConfigureAwait(false);
        Decisions.Enqueue(record);
        if (record.Final is { } final)
        {
            var arguments = new SortedDictionary<string, string?>(StringComparer.Ordinal) { [ToolNames.ReasonArgument] = final.Proposal.Reason };
            if (final.Proposal.CheckpointId is { } checkpoint)
            {
                arguments[ToolNames.CheckpointArgument] = checkpoint;
            }
            if (final.Proposal.Layer is { } layer)
            {
                arguments[ToolNames.LayerArgument] = layer;
            }
            _transcript?.Write(new TranscriptLine(record.Step, record.Branch, record.Id, InterventionActions.Name(final.Proposal.Action), arguments));
        }
        _events.OnEvent(new AgentDecisionEvent
        {
            Time = _time.GetUtcNow(), Step = record.Step, Branch = record.Branch, DecisionId = record.Id, Trigger = record.Trigger,
            Summary = record.Summary, Provider = record.Provider, Model = record.Model, ModelErrors = record.ModelErrors,
            ModelCalls = [.. record.Turns.Select(turn => new ModelCallInfo(
                turn.Trace.Attempts, [.. turn.Trace.Retries.Select(r => $"attempt {r.Attempt}: {r.Error}; retried after {r.DelayMs:F0} ms")],
                turn.Trace.Outcome, turn.Trace.Error, Math.Round(turn.Trace.LatencyMs, 3), turn.InputTokens, turn.OutputTokens, turn.ToolCall, turn.Arguments))],
            FinalProposal = record.Final?.Proposal.Id,
        });
    }

    /// <summary>The gate's verdict on a proposal, carried out: a command, a review entry, or nothing.</summary>
    private GateDecision Judge(Proposal proposal, string summaryText)
    {
        GateDecision decision = _gate.Decide(proposal, GateStateNow());
        string? commandId = null;
        if (decision.Verdict == Verdict.Apply && proposal.ToCommand() is { } command)
        {
            commandId = Dispatch(proposal, command, proposal.Source);
            if (proposal.Action == InterventionAction.RollbackCheckpoint)
            {
                KeepLearningRateDecisions(proposal);
            }
        }
        else if (decision.Verdict == Verdict.Review)
        {
            QueueForReview(proposal, decision, summaryText);
        }
        ReportProposal(proposal, decision, commandId);
        return decision;
    }

    private string Dispatch(Proposal proposal, TrainerCommand command, CommandSource source, string? key = null,
        Action<CommandRecord>? created = null)
    {
        // Registered before it is queued: the trainer may apply it before Submit returns.
        CommandRecord record = _commands.Submit(command, source, submitted =>
        {
            _dispatched[submitted.Id] = proposal;
            created?.Invoke(submitted);
        }, key);
        if (source == CommandSource.Guard)
        {
            _guardCommand = record;
        }
        return record.Id;
    }

    /// <summary>A rollback undoes what happened to the run, not what was decided about it: lr
    /// changes applied (and approved) after the checkpoint's step are applied again right after
    /// the restore, in the same step boundary. A fault's lr spike is not a decision, so it stays undone.</summary>
    private void KeepLearningRateDecisions(Proposal rollback)
    {
        long checkpointStep = CheckpointsNow().FirstOrDefault(c => c.Id == rollback.CheckpointId)?.Step ?? long.MaxValue;
        double factor;
        lock (_effectsGate)
        {
            factor = _lrDecisions.Where(d => d.Step > checkpointStep).Aggregate(1.0, (product, d) => product * d.Factor);
        }
        if (factor != 1.0)
        {
            _commands.Submit(UpdateOptimizerCommand.ScaleLearningRate(factor), rollback.Source); // audited as a command like any other
        }
    }

    /// <summary>A person sees one question at a time, about the run as it is now. The same proposal made
    /// again refreshes the waiting one (same id, so the reviewer's page stays put, and never stale);
    /// a different one replaces it (the waiting one expires as superseded).</summary>
    private void QueueForReview(Proposal proposal, GateDecision decision, string summaryText)
    {
        RunState state = _run!.State;
        foreach (ReviewItem waiting in _reviews.List(ReviewStatus.AwaitingReview))
        {
            bool same = waiting.Action == proposal.Action && waiting.CheckpointId == proposal.CheckpointId && waiting.Layer == proposal.Layer;
            if (same && _reviews.Refresh(waiting.ProposalId, proposal, summaryText))
            {
                return;
            }
            string outcome = $"superseded by {proposal.Id}";
            if (_reviews.Close(waiting.ProposalId, ReviewStatus.AwaitingReview, ReviewStatus.Expired, null, outcome))
            {
                ReportReview(waiting.ProposalId, ReviewStatus.Expired, null, outcome, state);
            }
        }
        _reviews.Add(proposal, decision, summaryText, _gate.Policy.ApprovalTimeout);
    }

    /// <summary>A NaN/Inf loss: act on the policy's guard at once, without a model.</summary>
    private void Guard(StepMetrics metrics)
    {
        if (_run is null || _guardCommand is { IsFinished: false })
        {
            return;
        }
        Policy policy = _gate.Policy;
        RunState state = _run.State;
        Proposal? proposal = policy.NonFiniteGuard switch
        {
            GuardActions.Rollback when LastGoodCheckpoint(state) is { } checkpoint => GuardProposal(state, InterventionAction.RollbackCheckpoint,
                $"non-finite loss at step {metrics.Step}: rolling back to {checkpoint.Id}, the latest checkpoint with a finite validation loss.", checkpoint.Id),
            GuardActions.Halve => GuardProposal(state, InterventionAction.HalveLearningRate, $"non-finite loss at step {metrics.Step}: halving the lr.", null),
            _ => null,
        };
        if (proposal is not null)
        {
            Judge(proposal, $"guard: non-finite loss at step {metrics.Step}");
        }
    }

    private CheckpointSummary? LastGoodCheckpoint(RunState state) =>
        CheckpointsNow().Where(c => c.Step < state.Step && c.ValLoss is { } v && double.IsFinite(v)).MaxBy(c => (c.Step, c.Branch == state.Branch))
        ?? CheckpointsNow().Where(c => c.Step < state.Step).MaxBy(c => c.Step);

    private static Proposal GuardProposal(RunState state, InterventionAction action, string reason, string? checkpointId) => new()
    {
        Id = $"guard-{state.Branch}-{state.Step}",
        Action = action,
        Reason = reason,
        Source = CommandSource.Guard,
        BasedOnStep = state.Step,
        BasedOnBranch = state.Branch,
        CheckpointId = checkpointId,
    };

    private async Task ReviewLoopAsync(CancellationToken stopping)
    {
        while (!stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), _time, stopping).ConfigureAwait(false);
                ProcessReviews();
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>Expires overdue proposals; re-validates approved ones and queues them as commands.</summary>
    public void ProcessReviews()
    {
        RunState? state = _run?.State;
        if (state is null)
        {
            return;
        }
        foreach (ReviewItem item in _reviews.ExpireOverdue())
        {
            ReportReview(item.ProposalId, ReviewStatus.Expired, null, "no review before the deadline", state);
        }
        foreach (ReviewItem item in _reviews.Approved())
        {
            var proposal = new Proposal
            {
                Id = item.ProposalId, Action = item.Action, Reason = item.Reason, Source = CommandSource.Agent,
                BasedOnStep = item.Step, BasedOnBranch = item.Branch, CheckpointId = item.CheckpointId, Layer = item.Layer,
            };
            bool beforeRestart = _approvedBeforeRestart.ContainsKey(item.ProposalId);
            GateDecision decision = _gate.Decide(proposal, GateStateNow(), beforeRestart ? Approval.ApprovedBeforeRestart : Approval.Approved);
            if (decision.Verdict == Verdict.Apply && proposal.ToCommand() is { } command)
            {
                // Claim it first, so it can never be queued twice; the command's id is recorded before the
                // trainer can apply it, and the review follows the command to applied, failed or cancelled.
                if (_reviews.Close(item.ProposalId, ReviewStatus.Approved, ReviewStatus.Queued, null))
                {
                    string commandId = Dispatch(proposal, command, CommandSource.Human, ReviewKey(item.ProposalId), created =>
                    {
                        _reviewCommands[created.Id] = item.ProposalId;
                        _reviews.SetCommand(item.ProposalId, created.Id);
                    });
                    ReportReview(item.ProposalId, ReviewStatus.Queued, item.Reviewer, $"queued as {commandId}", state);
                    ReportProposal(proposal with { Source = CommandSource.Human }, decision, commandId);
                }
            }
            else
            {
                string why = beforeRestart
                    ? $"approved before the run was restarted, but cannot be applied now: {decision.Reason}"
                    : $"approved, but no longer valid: {decision.Reason}";
                if (_reviews.Close(item.ProposalId, ReviewStatus.Approved, ReviewStatus.Expired, null, why))
                {
                    ReportReview(item.ProposalId, ReviewStatus.Expired, item.Reviewer, why, state);
                }
            }
        }
    }

    /// <summary>An approved review's command has ended: the review says how. One the run ended before
    /// applying goes back to approved, to be validated again (and applied) if the run is resumed.</summary>
    private void FollowReviewedCommand(string proposalId, CommandEvent command)
    {
        (string status, string outcome) = command.Status switch
        {
            CommandStatus.Succeeded => (ReviewStatus.Applied, $"applied as {command.Id} at step {command.Step}: {command.Reason}"),
            CommandStatus.Failed => (ReviewStatus.Failed, $"{command.Id} failed: {command.Reason}"),
            _ => (ReviewStatus.Approved, $"{command.Reason}; it is validated again if the run is resumed"),
        };
        if (_reviews.Close(proposalId, ReviewStatus.Queued, status, command.Id, outcome))
        {
            ReportReview(proposalId, status, null, outcome, _run!.State);
        }
    }

    /// <summary>The key an approved review's command carries: the trainer applies it once, and a
    /// checkpoint records that it did (so a restarted run knows what it still lacks).</summary>
    public static string ReviewKey(string proposalId) => "review:" + proposalId;

    /// <summary>After a restart from a checkpoint: approved reviews whose command that checkpoint does
    /// not contain (applied after it, or queued and never applied) are approved again, and every
    /// approval still owed is judged against the run as its approver saw it (a rewound step does not
    /// make it stale), then applied once or refused with a reason that says so. Rollbacks applied in
    /// the earlier sessions count against the policy's limit.</summary>
    public void ContinueAfterResume(IReadOnlyList<RunEvent> earlierEvents, IReadOnlySet<string> appliedKeys, string checkpointId)
    {
        foreach (ReviewItem item in _reviews.List().Where(item => item.Status is ReviewStatus.Applied or ReviewStatus.Queued))
        {
            if (!appliedKeys.Contains(ReviewKey(item.ProposalId)))
            {
                _reviews.Close(item.ProposalId, item.Status, ReviewStatus.Approved, null,
                    $"approved again on restart: {checkpointId} does not contain it");
            }
            else if (item.Status == ReviewStatus.Queued) // applied, and checkpointed, before the process ended
            {
                _reviews.Close(item.ProposalId, ReviewStatus.Queued, ReviewStatus.Applied, item.CommandId, $"applied (contained in {checkpointId})");
            }
        }
        foreach (ReviewItem item in _reviews.Approved())
        {
            _approvedBeforeRestart[item.ProposalId] = true;
        }
        HashSet<string> succeeded = [.. earlierEvents.OfType<CommandEvent>().Where(c => c.Status == CommandStatus.Succeeded).Select(c => c.Id)];
        _gate.RecordEarlierRollbacks(
            earlierEvents.OfType<ProposalEvent>().Count(p => p.Action == InterventionAction.RollbackCheckpoint
                && p.Verdict == Verdict.Apply && p.CommandId is { } id && succeeded.Contains(id)),
            earlierEvents.OfType<BranchCreatedEvent>().Count(b => b.ForkStep == 0));
    }

    private void MeasureEffects(long trained)
    {
        lock (_effectsGate)
        {
            if (_pendingEffects.Count == 0)
            {
                return;
            }
            foreach (PendingEffect effect in _pendingEffects.Where(e => trained - e.Trained >= _options.EffectWindowSteps).ToList())
            {
                double after = _recentLosses.TakeLast(_options.EffectWindowSteps).DefaultIfEmpty(double.NaN).Average();
                _pendingEffects.Remove(effect);
                _outcomes.Add(Outcome(effect, after));
                RunState state = _run!.State;
                _events.OnEvent(new InterventionEffectEvent
                {
                    Time = _time.GetUtcNow(), Step = state.Step, Branch = state.Branch, ProposalId = effect.Proposal.Id, Action = effect.Proposal.Action,
                    AppliedStep = effect.Step, LossBefore = effect.LossBefore, LossAfter = after,
                });
            }
        }
    }

    private static InterventionOutcome Outcome(PendingEffect effect, double? lossAfter) => new(
        effect.Step, effect.Proposal.Action, effect.Proposal.Target, SourceName(effect.Proposal.Source), effect.LossBefore, lossAfter,
        effect.Proposal.BasedOnStep);

    private TrainingSummary Summarise(string trigger)
    {
        RunState state = _run!.State;
        (IReadOnlyList<StepMetrics> steps, IReadOnlyList<EvaluationMetrics> evaluations) = _history.Snapshot();
        List<InterventionOutcome> interventions;
        lock (_effectsGate)
        {
            interventions = [.. _outcomes, .. _pendingEffects.Select(e => Outcome(e, null))];
        }
        GateState gateState = GateStateNow();
        RunBudget budget = _run.Budget;
        var context = new SummaryContext(state.Step, state.TotalSteps, state.Branch, state.LearningRate, state.BaseLearningRate, trigger,
            _lastAppliedTrained is { } last ? Interlocked.Read(ref _trained) - last : null, interventions, gateState.Checkpoints, _gate.Limits(gateState),
            new BudgetSummary(state.TrainedSteps, budget.MaxTrainedSteps, state.BudgetStepsLeft, budget.Deadline));
        return SummaryBuilder.Build(steps, evaluations, context);
    }

    private GateState GateStateNow()
    {
        RunState state = _run!.State;
        IReadOnlyList<CheckpointSummary> checkpoints = CheckpointsNow();
        (_, IReadOnlyList<EvaluationMetrics> evaluations) = _history.Snapshot();
        double best;
        lock (_effectsGate)
        {
            best = _bestValLoss; // this session's evaluations, and the checkpoints of earlier ones
        }
        best = checkpoints.Select(c => c.ValLoss ?? double.PositiveInfinity).Where(double.IsFinite).Append(best).Min();
        long trained = Interlocked.Read(ref _trained);
        return new GateState(state.Step, state.Branch, trained, state.BaseLearningRate, state.LearningRate, checkpoints, _run.Layers,
            double.IsFinite(best) ? best : null, evaluations.Count > 0 ? evaluations[^1].ValLoss : null,
            Interlocked.Read(ref _lastNonFiniteTrained) is >= 0 and var nonFinite && trained - nonFinite <= RecentNonFiniteSteps,
            state.BudgetStepsLeft);
    }

    /// <summary>A non-finite loss within this many steps puts the run in trouble (the gate lets it roll back further).</summary>
    private const long RecentNonFiniteSteps = 100;

    private IReadOnlyList<CheckpointSummary> CheckpointsNow() => [.. _run!.Checkpoints.Select(Summary)];

    private static CheckpointSummary Summary(CheckpointInfo c) => new(c.Id, c.Step, c.Branch, c.ValLoss, c.LastValLoss);

    private void ReportProposal(Proposal proposal, GateDecision decision, string? commandId)
    {
        RunState state = _run!.State;
        _events.OnEvent(new ProposalEvent
        {
            Time = _time.GetUtcNow(), Step = state.Step, Branch = state.Branch, ProposalId = proposal.Id, Source = proposal.Source,
            Action = proposal.Action, CheckpointId = proposal.CheckpointId, Layer = proposal.Layer, Reason = proposal.Reason,
            Verdict = decision.Verdict, Rule = decision.Rule, GateReason = decision.Reason, CommandId = commandId,
        });
    }

    private void ReportReview(string proposalId, string status, string? reviewer, string? outcome, RunState state) =>
        _events.OnEvent(new ReviewEvent
        {
            Time = _time.GetUtcNow(), Step = state.Step, Branch = state.Branch, ProposalId = proposalId, Status = status,
            Reviewer = reviewer, Outcome = outcome,
        });

    private static void Remember(List<double> window, double value)
    {
        if (double.IsFinite(value))
        {
            window.Add(value);
            if (window.Count > TriggerWindow)
            {
                window.RemoveAt(0);
            }
        }
    }

    private static string SourceName(CommandSource source) => source.ToString().ToLowerInvariant();

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        foreach (Task? task in new[] { _decision, _reviewLoop })
        {
            if (task is not null)
            {
                try
                {
                    await task.ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    // stopping
                }
            }
        }
        _stopping.Dispose();
        if (_transcript is not null)
        {
            await _transcript.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed record AgentRunReport(
        string Provider, string? Model, string Policy, int Decisions, IReadOnlyDictionary<string, int> Applied, int SentToReview, int Refused,
        int ModelErrors, int Fallbacks, IReadOnlyList<string> Interventions);

    private sealed record TranscriptLine(long Step, int Branch, string DecisionId, string Tool, IReadOnlyDictionary<string, string?> Arguments);

    private sealed record PendingEffect(Proposal Proposal, long Step, long Trained, double LossBefore);

    private sealed class NoEvents : IRunObserver
    {
        public static readonly NoEvents Instance = new();

        public void OnStep(StepMetrics metrics)
        {
        }

        public void OnEvaluation(EvaluationMetrics metrics)
        {
        }

        public void OnEvent(RunEvent runEvent)
        {
        }
    }
}
