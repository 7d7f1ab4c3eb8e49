using System.IO.Enumeration;
using AgentTrainer.Core.Runs;
using AgentTrainer.Core.Summaries;
using static System.FormattableString;

namespace AgentTrainer.Core.Policies;

/// <summary>The run as the gate sees it when deciding. <see cref="TrainedSteps"/> counts every step
/// taken on any branch, so cooldowns and windows run forward even across rollbacks.</summary>
/// <param name="BestValLoss">the best validation loss the run has reached, on any branch</param>
/// <param name="CurrentValLoss">the latest validation loss of the current branch</param>
/// <param name="RecentNonFinite">a non-finite loss in the last 100 steps</param>
/// <param name="BudgetStepsLeft">steps the run's budget (trained steps, deadline) still allows</param>
public sealed record GateState(
    long Step,
    int Branch,
    long TrainedSteps,
    double BaseLearningRate,
    double LearningRate,
    IReadOnlyList<CheckpointSummary> Checkpoints,
    IReadOnlyList<string> Layers,
    double? BestValLoss = null,
    double? CurrentValLoss = null,
    bool RecentNonFinite = false,
    long BudgetStepsLeft = long.MaxValue);

/// <summary>Whether a person approved the proposal being judged, and when.</summary>
public enum Approval
{
    None,
    Approved,

    /// <summary>Approved in an earlier session of the run, whose effect a restart lost.</summary>
    ApprovedBeforeRestart,
}

/// <summary>Validates every proposal against the policy: apply, queue for review, or refuse, naming
/// the rule and the reason. Remembers what was applied (lr changes, rollbacks, last intervention).</summary>
public sealed class PolicyGate(Policy policy)
{
    private readonly Lock _gate = new();
    private readonly List<LearningRateChange> _lrChanges = [];
    private int _rollbacks;
    private int _startOvers;
    private int _explorations;
    private int _skips;
    private long? _lastIntervention;

    public Policy Policy => policy;

    /// <summary>Judges a proposal. Approved by a person, the approval rule is met and every other rule
    /// (staleness first) is checked again. Approved in an earlier session of the run, it is judged
    /// against the run as the approver saw it: a restart that rewound the run to an older checkpoint
    /// makes it neither stale nor too deep a rollback, and it is not held back by a cooldown.</summary>
    public GateDecision Decide(Proposal proposal, GateState state, Approval approval = Approval.None)
    {
        lock (_gate)
        {
            return Check(proposal, state, approval);
        }
    }

    /// <summary>Rollbacks (and of those, starts over) applied in earlier sessions of the run count against
    /// rollback.max_per_run and rollback.max_start_overs.</summary>
    public void RecordEarlierRollbacks(int rollbacks, int startOvers)
    {
        lock (_gate)
        {
            _rollbacks += rollbacks;
            _startOvers += startOvers;
        }
    }

    /// <summary>Whether a budget of <paramref name="stepsLeft"/> can pay for redoing <paramref name="redo"/> steps
    /// and a tenth more (at least one), to get past where the run is now (rule budget.rollback).</summary>
    public static bool BudgetPaysFor(long redo, long stepsLeft) => stepsLeft >= redo + Math.Max(1, redo / 10);

    /// <summary>Rule rollback.max_regression: a checkpoint whose validation loss (its own, or the last before it on
    /// its branch) is within the tolerance of the run's best, or any when the run is in trouble (a non-finite loss
    /// lately, or the present worse than that checkpoint). An agent asks it too, so as not to propose what the gate
    /// refuses.</summary>
    public static bool RegressionAllows(
        double? checkpointValLoss, double? best, double? now, bool recentNonFinite, double maxRegression)
    {
        bool trouble = recentNonFinite
            || (now is { } n && checkpointValLoss is { } t && (!double.IsFinite(n) || n > t));
        return trouble || best is not { } b || !double.IsFinite(b)
            || (checkpointValLoss is { } loss && double.IsFinite(loss) && loss <= WorstAllowedValLoss(b, maxRegression));
    }

    /// <summary>The worst validation loss a rollback's checkpoint may have (rule rollback.max_regression).</summary>
    public static double WorstAllowedValLoss(double best, double maxRegression) => best * (1 + maxRegression);

    /// <summary>A rollback to the run's first checkpoint: the model is thrown away and training starts over.</summary>
    public static bool IsStartOver(CheckpointSummary checkpoint) => checkpoint.Step == 0;

    /// <summary>Records an applied proposal, for the limits that count (window, cooldown, rollbacks, starts over),
    /// and an lr change for <see cref="LearningRateFactorAfter"/>.</summary>
    /// <param name="trainedSteps">steps trained in all when it was applied (the clock of windows and cooldowns)</param>
    /// <param name="step">the run's step it was applied at (where a rollback's checkpoint is measured from)</param>
    public void RecordApplied(Proposal proposal, long trainedSteps, long step, bool startOver = false)
    {
        lock (_gate)
        {
            if (proposal.Action == InterventionAction.KeepLearningRate)
            {
                return;
            }
            _lastIntervention = trainedSteps;
            switch (proposal.Action)
            {
                case InterventionAction.DoubleLearningRate: _lrChanges.Add(new(trainedSteps, step, 2)); break;
                case InterventionAction.HalveLearningRate: _lrChanges.Add(new(trainedSteps, step, 0.5)); break;
                case InterventionAction.RollbackCheckpoint:
                    _rollbacks++;
                    _startOvers += startOver ? 1 : 0;
                    break;
                case InterventionAction.ExploreLearningRate: _explorations++; break;
                case InterventionAction.SkipData: _skips++; break;
            }
        }
    }

    /// <summary>The product of the lr changes applied after <paramref name="step"/>: what a rollback to a checkpoint
    /// of that step undoes, and applies again (it undoes what happened to the run, not what was decided).</summary>
    public double LearningRateFactorAfter(long step)
    {
        lock (_gate)
        {
            return _lrChanges.Where(c => c.Step > step).Aggregate(1.0, (product, c) => product * c.Factor);
        }
    }

    public PolicyLimits Limits(GateState state)
    {
        lock (_gate)
        {
            return new PolicyLimits
            {
                Policy = policy.Name,
                MinLearningRate = policy.MinLearningRate,
                MaxLearningRate = policy.MaxLearningRate,
                CooldownRemaining = CooldownRemaining(state),
                RollbacksLeft = Math.Max(0, policy.MaxRollbacks - _rollbacks),
                MaxRollbackDepth = policy.MaxRollbackDepthSteps,
                StartOversLeft = Math.Max(0, policy.MaxStartOvers - _startOvers),
                BestValLoss = state.BestValLoss,
                MaxRegression = policy.MaxRegression,
                BudgetStepsLeft = state.BudgetStepsLeft,
                ResettableLayers = [.. LayerNames.TopLevel(state.Layers).Where(Resettable)],
                ExplorationsLeft = policy.Explore is { } explore ? Math.Max(0, explore.MaxPerRun - _explorations) : 0,
                NeedApproval = [.. policy.ApprovalRequiredFor.Select(InterventionActions.Name)],
            };
        }
    }

    private GateDecision Check(Proposal proposal, GateState state, Approval approval)
    {
        // Keeping changes nothing, so it can never be stale or out of bounds.
        if (proposal.Action == InterventionAction.KeepLearningRate)
        {
            return new GateDecision(Verdict.Apply, "keep", "nothing to change.");
        }
        bool approved = approval != Approval.None;
        bool beforeRestart = approval == Approval.ApprovedBeforeRestart;
        bool stale = proposal.BasedOnBranch != state.Branch
            || state.Step - proposal.BasedOnStep > policy.MaxStalenessSteps
            || state.Step < proposal.BasedOnStep;
        // An approved rollback is pinned by its checkpoint: valid while that exists (and within depth and budget).
        bool pinned = approved && proposal.Action == InterventionAction.RollbackCheckpoint;
        if (stale && !beforeRestart && !pinned)
        {
            return Refuse("staleness_steps",
                $"the proposal was based on step {proposal.BasedOnStep} of branch {proposal.BasedOnBranch}; "
                + $"the run is at step {state.Step} of branch {state.Branch} "
                + $"(at most {policy.MaxStalenessSteps} steps behind on the same branch).");
        }
        // Guards act on hard evidence (a NaN loss) and are not held back by the cooldown.
        long cooldown = CooldownRemaining(state);
        if (cooldown > 0 && proposal.Source != Commands.CommandSource.Guard && !approved)
        {
            return Refuse("cooldown_steps",
                $"the last intervention was {policy.CooldownSteps - cooldown} steps ago; wait {cooldown} more steps.");
        }
        GateDecision? refusal = proposal.Action switch
        {
            InterventionAction.DoubleLearningRate => CheckLearningRate(2, state),
            InterventionAction.HalveLearningRate => CheckLearningRate(0.5, state),
            InterventionAction.RollbackCheckpoint => CheckRollback(proposal, state, beforeRestart),
            InterventionAction.ResetLayer => CheckReset(proposal, state),
            InterventionAction.ExploreLearningRate => CheckExplore(state),
            _ => CheckSkipData(),
        };
        if (refusal is not null)
        {
            return refusal;
        }
        if (policy.ApprovalRequiredFor.Contains(proposal.Action) && !approved)
        {
            return new GateDecision(Verdict.Review, "approval.required_for",
                Invariant($"{InterventionActions.Name(proposal.Action)} needs a person's approval ")
                + Invariant($"(waits up to {policy.ApprovalTimeout.TotalMinutes:0} minutes)."));
        }
        return approved
            ? new GateDecision(
                Verdict.Apply, "approval.required_for", $"{proposal.Describe()} was approved and is still valid.")
            : new GateDecision(
                Verdict.Apply, "within_policy", $"{proposal.Describe()} is within {policy.Name}'s limits.");
    }

    private GateDecision? CheckLearningRate(double factor, GateState state)
    {
        // Only a move further out of bounds is refused: halving an lr above the maximum (a fault, a
        // person's setting) heads back toward the range and is allowed.
        double next = state.BaseLearningRate * factor;
        if (factor > 1 && next > policy.MaxLearningRate)
        {
            return Refuse("learning_rate.max",
                Invariant($"the base lr would become {next:G3}, above the maximum {policy.MaxLearningRate:G3}."));
        }
        if (factor < 1 && next < policy.MinLearningRate)
        {
            return Refuse("learning_rate.min",
                Invariant($"the base lr would become {next:G3}, below the minimum {policy.MinLearningRate:G3}."));
        }
        double windowFactor = factor;
        foreach (LearningRateChange change in _lrChanges)
        {
            if (state.TrainedSteps - change.TrainedStep < policy.ChangeWindowSteps)
            {
                windowFactor *= change.Factor;
            }
        }
        if (windowFactor > policy.MaxChangeFactor || windowFactor < 1 / policy.MaxChangeFactor)
        {
            return Refuse("learning_rate.max_change_factor",
                Invariant($"the lr would move by a factor of {windowFactor:G3} ")
                + Invariant($"within {policy.ChangeWindowSteps} steps; ")
                + Invariant($"at most {policy.MaxChangeFactor:G3} either way."));
        }
        return null;
    }

    private GateDecision? CheckRollback(Proposal proposal, GateState state, bool beforeRestart)
    {
        if (_rollbacks >= policy.MaxRollbacks)
        {
            return Refuse("rollback.max_per_run",
                $"{_rollbacks} rollbacks already; the policy allows {policy.MaxRollbacks} per run.");
        }
        CheckpointSummary? checkpoint = state.Checkpoints.FirstOrDefault(c => c.Id == proposal.CheckpointId);
        if (checkpoint is null)
        {
            string lost = beforeRestart ? " (it was kept in memory only, and went with the process that held it)" : "";
            string available = string.Join(", ", state.Checkpoints.Select(c => c.Id));
            return Refuse("rollback.checkpoint",
                $"no checkpoint '{proposal.CheckpointId}'{lost}; available: {available}.");
        }
        long from = beforeRestart ? proposal.BasedOnStep : state.Step;
        long redo = from - checkpoint.Step;
        if (redo > policy.MaxRollbackDepthSteps)
        {
            return Refuse("rollback.max_depth_steps",
                $"{checkpoint.Id} is {redo} steps back; at most {policy.MaxRollbackDepthSteps}.");
        }
        bool startOver = IsStartOver(checkpoint);
        if (startOver && _startOvers >= policy.MaxStartOvers)
        {
            return Refuse("rollback.max_start_overs",
                $"{checkpoint.Id} is the run's start: it has started over {_startOvers} time(s); "
                + $"the policy allows {policy.MaxStartOvers}.");
        }
        // Redoing the steps must leave budget to get past where the run is now: a tenth more at least.
        if (redo > 0 && !BudgetPaysFor(redo, state.BudgetStepsLeft))
        {
            return Refuse("budget.rollback",
                Invariant($"rolling back to {checkpoint.Id} means training {redo} steps again; ")
                + Invariant($"the budget has {state.BudgetStepsLeft} left, ")
                + "too few to get past where the run is now.");
        }
        return startOver ? null : CheckRegression(checkpoint, state);
    }

    /// <summary>No rollback hands back a model worse than the run's best by more than the tolerance, unless
    /// the run is in trouble: a non-finite loss lately, or the present already worse than that checkpoint.</summary>
    private GateDecision? CheckRegression(CheckpointSummary checkpoint, GateState state)
    {
        if (state.BestValLoss is not { } best || !double.IsFinite(best))
        {
            return null;
        }
        double? target = checkpoint.LastValLoss;
        if (RegressionAllows(target, best, state.CurrentValLoss, state.RecentNonFinite, policy.MaxRegression))
        {
            return null;
        }
        if (target is not { } loss || !double.IsFinite(loss))
        {
            return Refuse("rollback.max_regression",
                Invariant($"{checkpoint.Id}'s validation loss is unknown, so it cannot be shown no worse than ")
                + Invariant($"the run's best {best:G4}."));
        }
        return Refuse("rollback.max_regression",
            Invariant($"{checkpoint.Id}'s validation loss {loss:G4} is {(loss / best) - 1:P1} worse ")
            + Invariant($"than the run's best {best:G4} (at most {policy.MaxRegression:P0}), and the run ")
            + Invariant($"is not in trouble (no non-finite loss; now {state.CurrentValLoss:G4})."));
    }

    /// <summary>An exploration must be offered, within the run's count, and paid for: every branch's steps.</summary>
    private GateDecision? CheckExplore(GateState state)
    {
        if (policy.Explore is not { } explore)
        {
            return Refuse("explore", $"{policy.Name} offers no exploration (it has no explore: section).");
        }
        if (_explorations >= explore.MaxPerRun)
        {
            return Refuse("explore.max_per_run",
                $"{_explorations} explorations already; the policy allows {explore.MaxPerRun} per run.");
        }
        long needed = explore.Steps * explore.LearningRateFactors.Count; // one round: more go only while paid for
        return needed <= state.BudgetStepsLeft ? null : Refuse("budget.explore", Invariant(
            $"exploring {explore.LearningRateFactors.Count} branches of {explore.Steps} steps trains {needed} steps; ")
            + Invariant($"the budget has {state.BudgetStepsLeft} left."));
    }

    private GateDecision? CheckSkipData() =>
        policy.SkipData is not { } skip
            ? Refuse("skip_data", $"{policy.Name} offers no skipping of data (it has no skip_data: section).")
            : _skips >= skip.MaxPerRun
                ? Refuse("skip_data.max_per_run",
                    $"{_skips} skips already; the policy allows {skip.MaxPerRun} per run.")
                : null;

    private GateDecision? CheckReset(Proposal proposal, GateState state)
    {
        string layer = proposal.Layer ?? "";
        if (LayerNames.Problem(state.Layers, layer) is { } problem)
        {
            return Refuse("reset_layer.layer", problem);
        }
        return Resettable(layer)
            ? null
            : Refuse("reset_layer.allowed",
                $"'{layer}' matches none of the resettable patterns {string.Join(", ", policy.ResettableLayers)}.");
    }

    private bool Resettable(string layer) =>
        policy.ResettableLayers.Any(
            pattern => FileSystemName.MatchesSimpleExpression(pattern, layer, ignoreCase: false));

    private long CooldownRemaining(GateState state) =>
        _lastIntervention is { } last ? Math.Max(0, policy.CooldownSteps - (state.TrainedSteps - last)) : 0;

    private static GateDecision Refuse(string rule, string reason) => new(Verdict.Refuse, rule, reason);
}

/// <summary>An applied lr change: when (in steps trained in all, and the run's step) and by what factor.</summary>
internal sealed record LearningRateChange(long TrainedStep, long Step, double Factor);
