using System.Collections.Concurrent;
using AgentTrainer.Agents.Decisions;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;

namespace AgentTrainer.Agents.Supervision;

/// <summary>Every finished decision: kept for the run's report, its final tool call written to the transcript
/// (<see cref="AgentSupervisor.TranscriptFile"/>, which the replay provider re-runs), reported as an event.</summary>
public sealed class DecisionLog(TrainingAgent agent, Policy policy, JsonLinesWriter? transcript) : IAsyncDisposable
{
    /// <summary>Decisions taken so far (finished ones); read from any thread.</summary>
    public ConcurrentQueue<DecisionRecord> Decisions { get; } = new();

    public void Add(DecisionRecord record, SupervisionReports reports)
    {
        Decisions.Enqueue(record);
        if (record.Final is { } final)
        {
            var arguments = new SortedDictionary<string, string?>(StringComparer.Ordinal)
            {
                [ToolNames.ReasonArgument] = final.Proposal.Reason,
            };
            if (final.Proposal.CheckpointId is { } checkpoint)
            {
                arguments[ToolNames.CheckpointArgument] = checkpoint;
            }
            if (final.Proposal.Layer is { } layer)
            {
                arguments[ToolNames.LayerArgument] = layer;
            }
            transcript?.Write(new TranscriptLine(
                record.Step, record.Branch, record.Id, InterventionActions.Name(final.Proposal.Action), arguments));
        }
        reports.Decision(record);
    }

    /// <summary>run.json's "agent" section: the morning report of what the agent did and why it could.</summary>
    public object Report()
    {
        DecisionRecord[] decisions = [.. Decisions];
        GatedProposal[] proposals = [.. decisions.SelectMany(d => d.Proposals)];
        var applied = new SortedDictionary<string, int>(
            proposals.Where(p => p.Decision.Verdict == Verdict.Apply)
                .GroupBy(p => InterventionActions.Name(p.Proposal.Action))
                .ToDictionary(g => g.Key, g => g.Count()),
            StringComparer.Ordinal);
        return new AgentRunReport(
            agent.Provider,
            agent.ModelId,
            policy.Name,
            decisions.Length,
            applied,
            proposals.Count(p => p.Decision.Verdict == Verdict.Review),
            proposals.Count(p => p.Decision.Verdict == Verdict.Refuse),
            decisions.Sum(d => d.ModelErrors.Count),
            decisions.Sum(d => d.Turns.Count(t => t.Trace.Outcome != Resilience.ModelCallOutcomes.Ok)),
            [.. proposals.Where(p => p.Decision.Verdict != Verdict.Refuse
                    && p.Proposal.Action != InterventionAction.KeepLearningRate)
                .Select(p => $"step {p.Proposal.BasedOnStep} branch {p.Proposal.BasedOnBranch}: "
                    + $"{p.Proposal.Describe()} ({p.Decision.Verdict.ToString().ToLowerInvariant()}): "
                    + p.Proposal.Reason)]);
    }

    public async ValueTask DisposeAsync()
    {
        if (transcript is not null)
        {
            await transcript.DisposeAsync().ConfigureAwait(false);
        }
    }

    private sealed record AgentRunReport(
        string Provider, string? Model, string Policy, int Decisions, IReadOnlyDictionary<string, int> Applied,
        int SentToReview, int Refused, int ModelErrors, int Fallbacks, IReadOnlyList<string> Interventions);

    private sealed record TranscriptLine(
        long Step, int Branch, string DecisionId, string Tool, IReadOnlyDictionary<string, string?> Arguments);
}
