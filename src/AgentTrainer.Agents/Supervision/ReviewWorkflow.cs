using AgentTrainer.Agents.Storage;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;

namespace AgentTrainer.Agents.Supervision;

/// <summary>The review queue's one user on the agent side: asks a person, picks up their approvals (judged
/// again, then queued as commands exactly once), expires what waited too long, and has each review follow
/// its command to applied, failed, or approved again when the run ended first.</summary>
public sealed class ReviewWorkflow(
    ReviewQueue reviews, PolicyGate gate, InterventionDispatcher dispatcher, SupervisionReports reports)
{
    private readonly Dictionary<string, string> _reviewByCommand = new(StringComparer.Ordinal);
    private readonly HashSet<string> _approvedBeforeRestart = new(StringComparer.Ordinal);
    private string? _heldFor; // the proposal the run is paused for (approval.hold_run)

    /// <summary>The key an approved review's command carries: the trainer applies it once, and a
    /// checkpoint records that it did (so a restarted run knows what it still lacks).</summary>
    public static string ReviewKey(string proposalId) => "review:" + proposalId;

    /// <summary>A person sees one question at a time, about the run as it is now. The same proposal made again
    /// refreshes the waiting one (same id, so the reviewer's page stays put, and never stale). A different one
    /// replaces it only when the run changed materially (approval.supersede): the waiting one can no longer be
    /// applied as it stands, a guard is acting, or the policy says always; else it is refused, and the waiting one
    /// stays. One a person rejected lately is not asked again (approval.rejection_cooldown_steps).</summary>
    /// <returns>the decision as it stands: review, or why the proposal is not asked</returns>
    public GateDecision Ask(Proposal proposal, GateDecision decision, string summaryText, RunState state,
        GateState gateState)
    {
        if (RejectedLately(proposal, state.Step) is { } rejected)
        {
            return rejected;
        }
        foreach (ReviewItem waiting in reviews.List(ReviewStatus.AwaitingReview))
        {
            bool same = waiting.Action == proposal.Action && waiting.CheckpointId == proposal.CheckpointId
                && waiting.Layer == proposal.Layer;
            if (same && reviews.Refresh(waiting.ProposalId, proposal, summaryText))
            {
                return decision;
            }
            if (!Replaces(proposal, waiting, gateState))
            {
                return new GateDecision(Verdict.Refuse, "approval.supersede",
                    $"{waiting.ProposalId} ({InterventionActions.Describe(waiting.Action, waiting.CheckpointId ?? waiting.Layer)}) "
                    + "waits for a person and can still be applied; it is not replaced until it cannot.");
            }
            Close(waiting.ProposalId, ReviewStatus.AwaitingReview, ReviewStatus.Superseded, null,
                $"superseded by {proposal.Id}; it can still be approved while it is valid", (state.Step, state.Branch),
                null);
        }
        reviews.Add(proposal, decision, summaryText, gate.Policy.ApprovalTimeout);
        if (gate.Policy.HoldRunFor.Contains(proposal.Action) && _heldFor is null)
        {
            _heldFor = proposal.Id; // the run waits for the person's answer (approval.hold_run)
            dispatcher.Hold(paused: true);
        }
        return decision;
    }

    /// <summary>The run ended for good: what still waits, or was superseded, can never be applied.</summary>
    public void EndOfRun(long step, int branch)
    {
        foreach (ReviewItem item in reviews.List().Where(i => i.Status is ReviewStatus.AwaitingReview or ReviewStatus.Superseded))
        {
            Close(item.ProposalId, item.Status, ReviewStatus.Expired, null,
                $"the run ended at step {step} before anyone answered", (step, branch), null);
        }
    }

    private bool Replaces(Proposal proposal, ReviewItem waiting, GateState gateState) =>
        gate.Policy.Supersede == SupersedeModes.Always || proposal.Source == CommandSource.Guard
        || gate.Decide(ToProposal(waiting), gateState, Approval.Approved).Verdict != Verdict.Apply;

    /// <summary>A refusal when a person rejected the same action on the same target within the cooldown, quoting
    /// them: the agent reads it as the tool's result.</summary>
    private GateDecision? RejectedLately(Proposal proposal, long step)
    {
        long cooldown = gate.Policy.RejectionCooldownSteps;
        ReviewItem? rejected = reviews.List(ReviewStatus.Rejected).LastOrDefault(r => r.Action == proposal.Action
            && r.CheckpointId == proposal.CheckpointId && r.Layer == proposal.Layer && Math.Abs(step - r.Step) < cooldown);
        return rejected is null ? null : new GateDecision(Verdict.Refuse, "approval.rejection_cooldown_steps",
            $"{rejected.Reviewer} rejected {proposal.Describe()} at step {rejected.Step}"
            + (string.IsNullOrWhiteSpace(rejected.Comment) ? "" : $" (\"{rejected.Comment}\")")
            + $"; it is not asked again within {cooldown} steps.");
    }

    private static Proposal ToProposal(ReviewItem item) => new()
    {
        Id = item.ProposalId, Action = item.Action, Reason = item.Reason, Source = CommandSource.Agent,
        BasedOnStep = item.Step, BasedOnBranch = item.Branch, CheckpointId = item.CheckpointId, Layer = item.Layer,
    };

    /// <summary>Expires overdue proposals; judges approved ones again and queues those still valid.</summary>
    public void ProcessDue(RunState state, GateState gateState)
    {
        foreach (ReviewItem item in reviews.ExpireOverdue())
        {
            reports.Review(
                state.Step, state.Branch, item.ProposalId, ReviewStatus.Expired, null, "no review before the deadline");
        }
        foreach (ReviewItem item in reviews.Approved())
        {
            Proposal proposal = ToProposal(item);
            bool beforeRestart = _approvedBeforeRestart.Contains(item.ProposalId);
            GateDecision decision = gate.Decide(
                proposal, gateState, beforeRestart ? Approval.ApprovedBeforeRestart : Approval.Approved);
            if (decision.Verdict == Verdict.Apply && proposal.ToCommand(gate.Policy) is { } command)
            {
                Queue(item, proposal, command, decision, state);
            }
            else
            {
                string why = beforeRestart
                    ? $"approved before the run was restarted, but cannot be applied now: {decision.Reason}"
                    : $"approved, but no longer valid: {decision.Reason}";
                Close(item.ProposalId, ReviewStatus.Approved, ReviewStatus.Expired, null, why,
                    (state.Step, state.Branch), item.Reviewer);
            }
        }
        if (_heldFor is { } held && reviews.List().FirstOrDefault(i => i.ProposalId == held)?.Status
            is not ReviewStatus.AwaitingReview)
        {
            _heldFor = null; // answered (its command, if approved, is queued before the resume), expired or superseded
            dispatcher.Hold(paused: false);
        }
    }

    /// <summary>Claimed first, so it can never be queued twice; the command's id is recorded before the run
    /// can apply it, and the review follows the command.</summary>
    private void Queue(
        ReviewItem item, Proposal proposal, TrainerCommand command, GateDecision decision, RunState state)
    {
        if (!reviews.Close(item.ProposalId, ReviewStatus.Approved, ReviewStatus.Queued, null))
        {
            return;
        }
        string key = ReviewKey(item.ProposalId);
        string commandId = dispatcher.Submit(proposal, command, CommandSource.Human, key, created =>
        {
            _reviewByCommand[created.Id] = item.ProposalId;
            reviews.SetCommand(item.ProposalId, created.Id);
        });
        reports.Review(
            state.Step, state.Branch, item.ProposalId, ReviewStatus.Queued, item.Reviewer, $"queued as {commandId}");
        reports.Proposal(state, proposal with { Source = CommandSource.Human }, decision, commandId);
    }

    /// <summary>An approved review's command has ended: the review says how. One the run ended before
    /// applying goes back to approved, to be judged again (and applied) if the run is resumed.</summary>
    public void Follow(CommandEvent command)
    {
        if (!command.Status.IsFinal() || !_reviewByCommand.Remove(command.Id, out string? proposalId))
        {
            return;
        }
        (string status, string outcome) = command.Status switch
        {
            CommandStatus.Succeeded =>
                (ReviewStatus.Applied, $"applied as {command.Id} at step {command.Step}: {command.Reason}"),
            CommandStatus.Failed => (ReviewStatus.Failed, $"{command.Id} failed: {command.Reason}"),
            _ => (ReviewStatus.Approved, $"{command.Reason}; it is validated again if the run is resumed"),
        };
        Close(proposalId, ReviewStatus.Queued, status, command.Id, outcome, (command.Step, command.Branch), null);
    }

    /// <summary>After a restart from a checkpoint: approved reviews whose command that checkpoint does not
    /// contain (applied after it, or queued and never applied) are approved again, and every approval still
    /// owed is judged against the run as its approver saw it (a rewound step does not make it stale).</summary>
    public void ContinueAfterResume(IReadOnlySet<string> appliedKeys, string checkpointId)
    {
        IEnumerable<ReviewItem> owed =
            reviews.List().Where(item => item.Status is ReviewStatus.Applied or ReviewStatus.Queued);
        foreach (ReviewItem item in owed)
        {
            if (!appliedKeys.Contains(ReviewKey(item.ProposalId)))
            {
                reviews.Close(item.ProposalId, item.Status, ReviewStatus.Approved, null,
                    $"approved again on restart: {checkpointId} does not contain it");
            }
            else if (item.Status == ReviewStatus.Queued) // applied, and checkpointed, before the process ended
            {
                reviews.Close(item.ProposalId, ReviewStatus.Queued, ReviewStatus.Applied, item.CommandId,
                    $"applied (contained in {checkpointId})");
            }
        }
        _approvedBeforeRestart.UnionWith(reviews.Approved().Select(item => item.ProposalId));
    }

    /// <summary>Moves a review on, exactly once, and reports it as seen at <paramref name="at"/>.</summary>
    private void Close(string proposalId, string from, string to, string? commandId, string outcome,
        (long Step, int Branch) at, string? reviewer)
    {
        if (reviews.Close(proposalId, from, to, commandId, outcome))
        {
            reports.Review(at.Step, at.Branch, proposalId, to, reviewer, outcome);
        }
    }
}
