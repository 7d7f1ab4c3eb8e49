using AgentTrainer.Agents.Storage;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Service.Inbox;
using AgentTrainer.Service.Runs;
using Microsoft.Extensions.Options;

namespace AgentTrainer.Service.Reports;

/// <summary>The morning report: every run active in a window (by default since yesterday's
/// <see cref="ServiceOptions.NightStartsAt"/>, local time) — its outcome, validation loss from start to end and at
/// its best, each intervention with its reason, who approved it and its measured effect, and what still
/// waits.</summary>
public sealed class MorningReport(IOptions<ServiceOptions> options, RunIndex index, ReviewInbox inbox, TimeProvider time)
{
    /// <summary>The default window's start: the night start of the day before today (local time).</summary>
    public DateTimeOffset DefaultSince()
    {
        DateTimeOffset now = time.GetLocalNow();
        return new DateTimeOffset(now.Date.AddDays(-1) + options.Value.NightStartsAt, now.Offset);
    }

    public ReportModel Build(DateTimeOffset? since = null, DateTimeOffset? until = null)
    {
        DateTimeOffset from = since ?? DefaultSince();
        DateTimeOffset to = until ?? time.GetUtcNow();
        IReadOnlyList<InboxItem> waiting = inbox.List(ReviewStatus.AwaitingReview);
        List<RunReport> runs = [.. index.List()
            .Where(run => InWindow(run, from, to))
            .Select(run => Describe(run, [.. waiting.Where(item => item.Run == run.Name)]))];
        return new ReportModel(from, to, runs, waiting.Count);
    }

    private static bool InWindow(RunEntry run, DateTimeOffset from, DateTimeOffset to)
    {
        DateTimeOffset began = run.StartedAt ?? run.SubmittedAt ?? run.UpdatedAt;
        return !RunStates.IsFinal(run.State) || (began <= to && (run.FinishedAt ?? run.UpdatedAt) >= from);
    }

    private static RunReport Describe(RunEntry run, IReadOnlyList<InboxItem> waiting)
    {
        (IReadOnlyList<StepMetrics> steps, IReadOnlyList<EvaluationMetrics> evaluations) =
            Directory.Exists(run.Folder) ? RunRecordReader.ReadMetrics(run.Folder) : ([], []);
        IReadOnlyList<RunEvent> events = Directory.Exists(run.Folder) ? RunRecordReader.ReadEvents(run.Folder) : [];
        EvaluationMetrics? best = evaluations.Where(e => double.IsFinite(e.ValLoss)).MinBy(e => e.ValLoss);
        // The final figure is the model the run handed back (run.json's), as the console and the run list say; only a
        // run still going, or one that ended before writing it, falls back to its last evaluation.
        HandedBackModel? handedBack = Directory.Exists(run.Folder)
            ? RunRecordReader.TryReadSummary(run.Folder)?.Final?.HandedBack : null;
        return new RunReport(
            run.Name, run.Kind, run.State, run.StartedAt, run.FinishedAt, run.Message,
            Math.Max(steps.Count > 0 ? steps[^1].Step : 0, evaluations.Count > 0 ? evaluations[^1].Step : 0),
            evaluations.Count > 0 ? evaluations[0].ValLoss : null,
            handedBack?.ValLoss ?? (evaluations.Count > 0 ? evaluations[^1].ValLoss : null),
            best?.ValLoss, best?.Step,
            Interventions(events), waiting, evaluations, ExpiredUnanswered(events), handedBack);
    }

    /// <summary>Proposals that waited for a person and expired with no answer (past their deadline, or the run ended).</summary>
    private static List<ReviewEvent> ExpiredUnanswered(IReadOnlyList<RunEvent> events)
    {
        HashSet<string> answered = [.. events.OfType<ReviewEvent>().Where(r => r.Reviewer is not null).Select(r => r.ProposalId)];
        return [.. events.OfType<ReviewEvent>()
            .Where(r => r.Status == ReviewStatus.Expired && !answered.Contains(r.ProposalId))
            .GroupBy(r => r.ProposalId).Select(g => g.Last())];
    }

    /// <summary>Each command the agent or a guard had applied, and each approved proposal (a person's command): its
    /// proposal's reason and rule, who approved it when a person did, and the loss before and after it.</summary>
    private static List<InterventionReport> Interventions(IReadOnlyList<RunEvent> events)
    {
        Dictionary<string, ProposalEvent> proposals = events.OfType<ProposalEvent>().Where(p => p.CommandId is not null)
            .GroupBy(p => p.CommandId!).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        Dictionary<string, string> reviewers = events.OfType<ReviewEvent>().Where(r => r.Reviewer is not null)
            .GroupBy(r => r.ProposalId).ToDictionary(g => g.Key, g => g.Last().Reviewer!, StringComparer.Ordinal);
        Dictionary<string, InterventionEffectEvent> effects = events.OfType<InterventionEffectEvent>()
            .GroupBy(e => e.ProposalId).ToDictionary(g => g.Key, g => g.Last(), StringComparer.Ordinal);
        return [.. events.OfType<CommandEvent>()
            .Where(c => c.Status == CommandStatus.Succeeded
                && (c.Source is CommandSource.Agent or CommandSource.Guard || proposals.ContainsKey(c.Id)))
            .Select(c =>
            {
                ProposalEvent? proposal = proposals.GetValueOrDefault(c.Id);
                string? proposalId = proposal?.ProposalId;
                InterventionEffectEvent? effect = proposalId is null ? null : effects.GetValueOrDefault(proposalId);
                return new InterventionReport(c.Step, proposal is null ? c.Kind : InterventionActions.Name(proposal.Action),
                    c.Source.ToString().ToLowerInvariant(),
                    proposal?.Reason ?? c.Reason ?? "", proposal?.Rule,
                    proposalId is null ? null : reviewers.GetValueOrDefault(proposalId),
                    effect?.LossBefore, effect?.LossAfter);
            })];
    }
}

public sealed record ReportModel(DateTimeOffset From, DateTimeOffset To, IReadOnlyList<RunReport> Runs, int Waiting);

/// <param name="Steps">the last step the run's records reach</param>
/// <param name="HandedBack">the model an ended run hands back (run.json's; <paramref name="FinalValLoss"/> is its loss)</param>
public sealed record RunReport(
    string Name, string Kind, string State, DateTimeOffset? StartedAt, DateTimeOffset? FinishedAt, string? Message, long Steps,
    double? StartValLoss, double? FinalValLoss, double? BestValLoss, long? BestStep,
    IReadOnlyList<InterventionReport> Interventions, IReadOnlyList<InboxItem> Waiting,
    [property: System.Text.Json.Serialization.JsonIgnore] IReadOnlyList<EvaluationMetrics> Evaluations,
    IReadOnlyList<ReviewEvent> ExpiredUnanswered, HandedBackModel? HandedBack);

/// <param name="Command">the agent's action (halve_learning_rate, rollback_checkpoint, ...), or the command's
/// kind</param>
/// <param name="ApprovedBy">the person who approved it (null: the policy let the agent apply it alone)</param>
public sealed record InterventionReport(
    long Step, string Command, string Source, string Reason, string? Rule, string? ApprovedBy, double? LossBefore, double? LossAfter);
