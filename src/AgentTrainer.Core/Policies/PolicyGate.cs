using System.Globalization;
using System.IO.Enumeration;
using AgentTrainer.Core.Summaries;

namespace AgentTrainer.Core.Policies;

/// <summary>The run as the gate sees it when deciding. <see cref="TrainedSteps"/> counts every step
/// taken on any branch, so cooldowns and windows run forward even across rollbacks.</summary>
public sealed record GateState(
    long Step,
    int Branch,
    long TrainedSteps,
    double BaseLearningRate,
    double LearningRate,
    IReadOnlyList<CheckpointSummary> Checkpoints,
    IReadOnlyList<string> Layers);

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
    private readonly List<(long TrainedStep, double Factor)> _lrChanges = [];
    private int _rollbacks;
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

    /// <summary>Rollbacks applied in earlier sessions of the run count against rollback.max_per_run.</summary>
    public void RecordEarlierRollbacks(int count)
    {
        lock (_gate)
        {
            _rollbacks += count;
        }
    }

    /// <summary>Records an applied proposal, for the limits that count (window, cooldown, rollbacks).</summary>
    public void RecordApplied(Proposal proposal, long trainedSteps)
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
                case InterventionAction.DoubleLearningRate: _lrChanges.Add((trainedSteps, 2)); break;
                case InterventionAction.HalveLearningRate: _lrChanges.Add((trainedSteps, 0.5)); break;
                case InterventionAction.RollbackCheckpoint: _rollbacks++; break;
            }
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
                ResettableLayers = [.. state.Layers.Where(Resettable)],
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
        bool stale = proposal.BasedOnBranch != state.Branch || state.Step - proposal.BasedOnStep > policy.MaxStalenessSteps
            || state.Step < proposal.BasedOnStep;
        if (stale && !beforeRestart)
        {
            return Refuse("staleness_steps",
                $"the proposal was based on step {proposal.BasedOnStep} of branch {proposal.BasedOnBranch}; the run is at step {state.Step} of branch {state.Branch} (at most {policy.MaxStalenessSteps} steps behind on the same branch).");
        }
        // Guards act on hard evidence (a NaN loss) and are not held back by the cooldown.
        long cooldown = CooldownRemaining(state);
        if (cooldown > 0 && proposal.Source != Commands.CommandSource.Guard && !approved)
        {
            return Refuse("cooldown_steps", $"the last intervention was {policy.CooldownSteps - cooldown} steps ago; wait {cooldown} more steps.");
        }
        GateDecision? refusal = proposal.Action switch
        {
            InterventionAction.DoubleLearningRate => CheckLearningRate(2, state),
            InterventionAction.HalveLearningRate => CheckLearningRate(0.5, state),
            InterventionAction.RollbackCheckpoint => CheckRollback(proposal, state, beforeRestart),
            _ => CheckReset(proposal, state),
        };
        if (refusal is not null)
        {
            return refusal;
        }
        if (policy.ApprovalRequiredFor.Contains(proposal.Action) && !approved)
        {
            return new GateDecision(Verdict.Review, "approval.required_for",
                string.Create(CultureInfo.InvariantCulture, $"{InterventionActions.Name(proposal.Action)} needs a person's approval (waits up to {policy.ApprovalTimeout.TotalMinutes:0} minutes)."));
        }
        return approved
            ? new GateDecision(Verdict.Apply, "approval.required_for", $"{proposal.Describe()} was approved and is still valid.")
            : new GateDecision(Verdict.Apply, "within_policy", $"{proposal.Describe()} is within {policy.Name}'s limits.");
    }

    private GateDecision? CheckLearningRate(double factor, GateState state)
    {
        // Only a move further out of bounds is refused: halving an lr above the maximum (a fault, a
        // person's setting) heads back toward the range and is allowed.
        double next = state.BaseLearningRate * factor;
        if (factor > 1 && next > policy.MaxLearningRate)
        {
            return Refuse("learning_rate.max", string.Create(CultureInfo.InvariantCulture, $"the base lr would become {next:G3}, above the maximum {policy.MaxLearningRate:G3}."));
        }
        if (factor < 1 && next < policy.MinLearningRate)
        {
            return Refuse("learning_rate.min", string.Create(CultureInfo.InvariantCulture, $"the base lr would become {next:G3}, below the minimum {policy.MinLearningRate:G3}."));
        }
        double windowFactor = factor;
        foreach ((long trained, double change) in _lrChanges)
        {
            if (state.TrainedSteps - trained < policy.ChangeWindowSteps)
            {
                windowFactor *= change;
            }
        }
        if (windowFactor > policy.MaxChangeFactor || windowFactor < 1 / policy.MaxChangeFactor)
        {
            return Refuse("learning_rate.max_change_factor",
                string.Create(CultureInfo.InvariantCulture, $"the lr would move by a factor of {windowFactor:G3} within {policy.ChangeWindowSteps} steps; at most {policy.MaxChangeFactor:G3} either way."));
        }
        return null;
    }

    private GateDecision? CheckRollback(Proposal proposal, GateState state, bool beforeRestart)
    {
        if (_rollbacks >= policy.MaxRollbacks)
        {
            return Refuse("rollback.max_per_run", $"{_rollbacks} rollbacks already; the policy allows {policy.MaxRollbacks} per run.");
        }
        CheckpointSummary? checkpoint = state.Checkpoints.FirstOrDefault(c => c.Id == proposal.CheckpointId);
        if (checkpoint is null)
        {
            string lost = beforeRestart ? " (it was kept in memory only, and went with the process that held it)" : "";
            return Refuse("rollback.checkpoint",
                $"no checkpoint '{proposal.CheckpointId}'{lost}; available: {string.Join(", ", state.Checkpoints.Select(c => c.Id))}.");
        }
        long from = beforeRestart ? proposal.BasedOnStep : state.Step;
        if (from - checkpoint.Step > policy.MaxRollbackDepthSteps)
        {
            return Refuse("rollback.max_depth_steps", $"{checkpoint.Id} is {from - checkpoint.Step} steps back; at most {policy.MaxRollbackDepthSteps}.");
        }
        return null;
    }

    private GateDecision? CheckReset(Proposal proposal, GateState state)
    {
        string layer = proposal.Layer ?? "";
        if (!state.Layers.Contains(layer))
        {
            return Refuse("reset_layer.layer", $"the model has no layer '{layer}'; layers: {string.Join(", ", state.Layers)}.");
        }
        return Resettable(layer)
            ? null
            : Refuse("reset_layer.allowed", $"'{layer}' matches none of the resettable patterns {string.Join(", ", policy.ResettableLayers)}.");
    }

    private bool Resettable(string layer) =>
        policy.ResettableLayers.Any(pattern => FileSystemName.MatchesSimpleExpression(pattern, layer, ignoreCase: false));

    private long CooldownRemaining(GateState state) =>
        _lastIntervention is { } last ? Math.Max(0, policy.CooldownSteps - (state.TrainedSteps - last)) : 0;

    private static GateDecision Refuse(string rule, string reason) => new(Verdict.Refuse, rule, reason);
}
