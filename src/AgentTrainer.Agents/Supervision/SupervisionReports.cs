using AgentTrainer.Agents.Decisions;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;

namespace AgentTrainer.Agents.Supervision;

/// <summary>What the supervisor's parts report as run events: decisions, proposals and the gate's answers,
/// reviews' changes, measured effects. One place for the event shapes.</summary>
public sealed class SupervisionReports(IRunObserver events, TimeProvider time)
{
    public void Decision(DecisionRecord record) => events.OnEvent(new AgentDecisionEvent
    {
        Time = time.GetUtcNow(), Step = record.Step, Branch = record.Branch, DecisionId = record.Id,
        Trigger = record.Trigger, Summary = record.Summary, Provider = record.Provider, Model = record.Model,
        ModelErrors = record.ModelErrors,
        ModelCalls = [.. record.Turns.Select(turn => new ModelCallInfo(
            turn.Trace.Attempts,
            [.. turn.Trace.Retries.Select(r => $"attempt {r.Attempt}: {r.Error}; retried after {r.DelayMs:F0} ms")],
            turn.Trace.Outcome, turn.Trace.Error, Math.Round(turn.Trace.LatencyMs, 3), turn.InputTokens,
            turn.OutputTokens, turn.ToolCall, turn.Arguments))],
        FinalProposal = record.Final?.Proposal.Id,
    });

    public void Proposal(RunState state, Proposal proposal, GateDecision decision, string? commandId) =>
        events.OnEvent(new ProposalEvent
        {
            Time = time.GetUtcNow(), Step = state.Step, Branch = state.Branch, ProposalId = proposal.Id,
            Source = proposal.Source, Action = proposal.Action, CheckpointId = proposal.CheckpointId,
            Layer = proposal.Layer, Reason = proposal.Reason, Verdict = decision.Verdict, Rule = decision.Rule,
            GateReason = decision.Reason, CommandId = commandId,
        });

    /// <summary>A review's change, seen at <paramref name="step"/> of <paramref name="branch"/>.</summary>
    public void Review(long step, int branch, string proposalId, string status, string? reviewer, string? outcome) =>
        events.OnEvent(new ReviewEvent
        {
            Time = time.GetUtcNow(), Step = step, Branch = branch, ProposalId = proposalId,
            Status = status, Reviewer = reviewer, Outcome = outcome,
        });

    /// <summary>An effect measured at <paramref name="step"/> of <paramref name="branch"/>.</summary>
    public void Effect(long step, int branch, MeasuredEffect effect) => events.OnEvent(new InterventionEffectEvent
    {
        Time = time.GetUtcNow(), Step = step, Branch = branch, ProposalId = effect.Proposal.Id,
        Action = effect.Proposal.Action, AppliedStep = effect.AppliedStep, LossBefore = effect.LossBefore,
        LossAfter = effect.LossAfter,
    });
}
