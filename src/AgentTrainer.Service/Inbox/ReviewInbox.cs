using System.Data.Common;
using AgentTrainer.Agents.Storage;
using AgentTrainer.ControlPlane.Security;
using AgentTrainer.Core.Policies;
using AgentTrainer.Service.Audit;
using AgentTrainer.Service.Runs;
using AgentTrainer.Service.Store;

namespace AgentTrainer.Service.Inbox;

/// <summary>One review inbox across runs. Each run's own queue (agent.db in its folder) stays the truth its
/// supervisor acts on; the store mirrors every run's queue for one list, and a decision made here goes into the
/// run's queue under the authenticated person's name, with one conditional update there — so an approval is
/// applied once, whichever instance took it and however often it is sent.</summary>
public sealed class ReviewInbox(ServiceStore store, RunIndex index, ServiceAudit audit, TimeProvider time)
{
    /// <summary>Proposals of every run, those that wait first and the most urgent (the soonest deadline)
    /// first.</summary>
    public IReadOnlyList<InboxItem> List(string? status = null, string? run = null)
    {
        string where = (status, run) switch
        {
            (null, null) => "",
            (_, null) => "WHERE status = @status",
            (null, _) => "WHERE run = @run",
            _ => "WHERE status = @status AND run = @run",
        };
        return store.Query($"""
            SELECT * FROM reviews {where}
            ORDER BY CASE WHEN status = @waiting THEN 0 ELSE 1 END, expires_at, created_at, run, proposal_id
            """, Read, ("@status", status), ("@run", run), ("@waiting", ReviewStatus.AwaitingReview));
    }

    /// <summary>Brings the store's copy of a run's review up to date with the run's own queue.</summary>
    public void Mirror(string run, ReviewItem item) => store.Execute("""
        INSERT INTO reviews (run, proposal_id, created_at, expires_at, step, action, reason, rule, summary, status,
            reviewer, comment, outcome)
        VALUES (@run, @id, @created, @expires, @step, @action, @reason, @rule, @summary, @status, @reviewer, @comment, @outcome)
        ON CONFLICT (run, proposal_id) DO UPDATE SET step = excluded.step, reason = excluded.reason,
            summary = excluded.summary, status = excluded.status, reviewer = excluded.reviewer, comment = excluded.comment,
            outcome = excluded.outcome
        """,
        ("@run", run), ("@id", item.ProposalId), ("@created", ServiceStore.Time(item.CreatedAt)),
        ("@expires", ServiceStore.Time(item.ExpiresAt)), ("@step", item.Step), ("@action", InterventionActions.Name(item.Action)),
        ("@reason", item.Reason), ("@rule", item.Rule), ("@summary", item.Summary), ("@status", item.Status),
        ("@reviewer", item.Reviewer), ("@comment", item.Comment), ("@outcome", item.Outcome));

    /// <summary>Approves or rejects a waiting proposal as <paramref name="person"/>; the decision, or why there is
    /// none.</summary>
    public InboxDecision Decide(string run, string proposalId, bool approve, Person person, string? comment)
    {
        if (index.Find(run) is not { } entry)
        {
            return InboxDecision.Missing($"no run named '{run}'.");
        }
        string database = Path.Combine(entry.Folder, AgentDatabase.FileName);
        if (!File.Exists(database))
        {
            return InboxDecision.Missing($"run '{run}' has no review queue.");
        }
        var queue = new ReviewQueue(database, time);
        if (queue.List().FirstOrDefault(item => item.ProposalId == proposalId) is null)
        {
            return InboxDecision.Missing($"run '{run}' has no proposal '{proposalId}'.");
        }
        if (queue.Decide(proposalId, approve, person.Name, comment) is { } problem)
        {
            return InboxDecision.Conflict(problem);
        }
        ReviewItem decided = queue.List().First(item => item.ProposalId == proposalId);
        Mirror(run, decided);
        audit.Record(run, person.Name, approve ? "review_approved" : "review_rejected", decided.Step,
            new { ProposalId = proposalId, Role = PersonRoles.Name(person.Role), Comment = comment });
        return InboxDecision.Done(List(run: run).First(item => item.ProposalId == proposalId));
    }

    private static InboxItem Read(DbDataReader reader) => new(
        ServiceStore.Text(reader, "run")!, ServiceStore.Text(reader, "proposal_id")!, ServiceStore.ReadTime(reader, "created_at"),
        ServiceStore.ReadTime(reader, "expires_at"), ServiceStore.Number(reader, "step")!.Value,
        ServiceStore.Text(reader, "action")!, ServiceStore.Text(reader, "reason")!, ServiceStore.Text(reader, "rule")!,
        ServiceStore.Text(reader, "summary")!, ServiceStore.Text(reader, "status")!, ServiceStore.Text(reader, "reviewer"),
        ServiceStore.Text(reader, "comment"), ServiceStore.Text(reader, "outcome"));
}

/// <summary>A proposal in the inbox: its run, what the agent saw (the summary) and proposed, the gate's rule and
/// reason for asking, the deadline, and the answer.</summary>
public sealed record InboxItem(
    string Run, string ProposalId, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, long Step, string Action, string Reason,
    string Rule, string Summary, string Status, string? Reviewer, string? Comment, string? Outcome);

/// <summary>What came of a decision: the item as decided, or a problem (no such proposal, or it no longer
/// waits).</summary>
public sealed record InboxDecision(InboxItem? Item, string? Problem, bool NotFound)
{
    public static InboxDecision Done(InboxItem item) => new(item, null, false);

    public static InboxDecision Missing(string problem) => new(null, problem, true);

    public static InboxDecision Conflict(string problem) => new(null, problem, false);
}
