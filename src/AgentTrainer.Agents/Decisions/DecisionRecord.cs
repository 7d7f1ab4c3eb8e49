using AgentTrainer.Agents.Resilience;
using AgentTrainer.Core.Policies;

namespace AgentTrainer.Agents.Decisions;

/// <summary>Everything about one decision, for the audit log: the summary shown, each model turn,
/// each proposal and the gate's answer, and any model error (which counts as keep).</summary>
public sealed class DecisionRecord
{
    public required string Id { get; init; }
    public required long Step { get; init; }
    public required int Branch { get; init; }
    public required string Trigger { get; init; }
    public required string Summary { get; init; }
    public required string Provider { get; init; }
    public required string Model { get; init; }
    public List<ModelTurn> Turns { get; } = [];
    public List<GatedProposal> Proposals { get; } = [];
    public List<string> ModelErrors { get; } = [];

    /// <summary>The proposal the decision ended with (the last one the gate did not refuse, else the last).</summary>
    public GatedProposal? Final =>
        Proposals.LastOrDefault(p => p.Decision.Verdict != Verdict.Refuse) ?? Proposals.LastOrDefault();
}

public sealed record ModelTurn(ModelCallTrace Trace, string? ToolCall, string? Arguments, string? Text, int? InputTokens, int? OutputTokens);

public sealed record GatedProposal(Proposal Proposal, GateDecision Decision);
