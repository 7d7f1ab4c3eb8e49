using System.Globalization;
using AgentTrainer.Core.Policies;
using Microsoft.Data.Sqlite;

namespace AgentTrainer.Agents.Storage;

/// <summary>Proposals waiting for a person, durable across restarts. A reviewer approves or rejects
/// (with name and comment); the running supervisor picks approved ones up, validates them again and
/// queues them as commands; unanswered ones expire.</summary>
public sealed class ReviewQueue(string databasePath, TimeProvider time)
{
    public string DatabasePath => databasePath;

    public void Add(Proposal proposal, GateDecision decision, string summary, TimeSpan timeout)
    {
        using SqliteConnection connection = AgentDatabase.Open(databasePath);
        DateTimeOffset now = time.GetUtcNow();
        AgentDatabase.Execute(connection, """
            INSERT INTO reviews (proposal_id, created_at, expires_at, step, branch, action, checkpoint_id, layer, reason, rule, summary, status)
            VALUES ($id, $created, $expires, $step, $branch, $action, $checkpoint, $layer, $reason, $rule, $summary, $status)
            """,
            ("$id", proposal.Id), ("$created", Time(now)), ("$expires", Time(now + timeout)), ("$step", proposal.BasedOnStep),
            ("$branch", proposal.BasedOnBranch), ("$action", InterventionActions.Name(proposal.Action)), ("$checkpoint", proposal.CheckpointId),
            ("$layer", proposal.Layer), ("$reason", proposal.Reason), ("$rule", decision.Rule), ("$summary", summary), ("$status", ReviewStatus.AwaitingReview));
    }

    /// <summary>Brings a waiting proposal up to date with the same proposal made again (its step,
    /// branch, reason and summary), so it keeps its place and id and does not go stale. False when it no longer waits.</summary>
    public bool Refresh(string proposalId, Proposal newer, string summary)
    {
        using SqliteConnection connection = AgentDatabase.Open(databasePath);
        using SqliteCommand command = AgentDatabase.Command(connection, """
            UPDATE reviews SET step = $step, branch = $branch, reason = $reason, summary = $summary
            WHERE proposal_id = $id AND status = 'awaiting_review'
            """,
            ("$step", newer.BasedOnStep), ("$branch", newer.BasedOnBranch), ("$reason", newer.Reason), ("$summary", summary), ("$id", proposalId));
        return command.ExecuteNonQuery() == 1;
    }

    public IReadOnlyList<ReviewItem> List(string? status = null)
    {
        using SqliteConnection connection = AgentDatabase.Open(databasePath);
        using SqliteCommand command = AgentDatabase.Command(connection,
            "SELECT * FROM reviews WHERE $status IS NULL OR status = $status ORDER BY created_at, proposal_id", ("$status", status));
        using SqliteDataReader reader = command.ExecuteReader();
        var items = new List<ReviewItem>();
        while (reader.Read())
        {
            items.Add(Read(reader));
        }
        return items;
    }

    /// <summary>Approves or rejects a proposal that awaits review, or one the agent's next idea superseded (it may
    /// still be valid: approved, it is judged again like any). Returns what was wrong, or null.</summary>
    public string? Decide(string proposalId, bool approve, string reviewer, string? comment)
    {
        if (string.IsNullOrWhiteSpace(reviewer))
        {
            return "a review needs the reviewer's name.";
        }
        using SqliteConnection connection = AgentDatabase.Open(databasePath);
        int changed;
        using (SqliteCommand command = AgentDatabase.Command(connection, """
            UPDATE reviews SET status = $status, reviewer = $reviewer, comment = $comment, decided_at = $now
            WHERE proposal_id = $id AND status IN ('awaiting_review', 'superseded')
            """,
            ("$status", approve ? ReviewStatus.Approved : ReviewStatus.Rejected), ("$reviewer", reviewer), ("$comment", comment),
            ("$now", Time(time.GetUtcNow())), ("$id", proposalId)))
        {
            changed = command.ExecuteNonQuery();
        }
        if (changed == 1)
        {
            return null;
        }
        ReviewItem? item = List().FirstOrDefault(i => i.ProposalId == proposalId);
        return item is null ? $"no proposal '{proposalId}' in the review queue."
            : $"proposal '{proposalId}' is {item.Status}{(item.Outcome is { } why ? $" ({why})" : "")}, not awaiting "
                + "review; nothing was changed.";
    }

    /// <summary>Approved proposals not yet dispatched as commands.</summary>
    public IReadOnlyList<ReviewItem> Approved() => List(ReviewStatus.Approved);

    /// <summary>Records the command an approval was queued as.</summary>
    public void SetCommand(string proposalId, string commandId)
    {
        using SqliteConnection connection = AgentDatabase.Open(databasePath);
        AgentDatabase.Execute(connection, "UPDATE reviews SET command_id = $command WHERE proposal_id = $id",
            ("$command", commandId), ("$id", proposalId));
    }

    /// <summary>Moves a proposal from one status to another, exactly once (false when it was not in
    /// <paramref name="fromStatus"/>), saying what came of it; the reviewer's own comment is kept as written.</summary>
    public bool Close(string proposalId, string fromStatus, string status, string? commandId, string? outcome = null)
    {
        using SqliteConnection connection = AgentDatabase.Open(databasePath);
        using SqliteCommand command = AgentDatabase.Command(connection, """
            UPDATE reviews SET status = $status, command_id = COALESCE($command, command_id), outcome = COALESCE($outcome, outcome),
                decided_at = COALESCE(decided_at, $now)
            WHERE proposal_id = $id AND status = $from
            """,
            ("$status", status), ("$command", commandId), ("$outcome", outcome), ("$now", Time(time.GetUtcNow())), ("$id", proposalId),
            ("$from", fromStatus));
        return command.ExecuteNonQuery() == 1;
    }

    /// <summary>Proposals whose wait ran out; they are marked expired.</summary>
    public IReadOnlyList<ReviewItem> ExpireOverdue()
    {
        DateTimeOffset now = time.GetUtcNow();
        var expired = List(ReviewStatus.AwaitingReview).Where(item => item.ExpiresAt <= now).ToList();
        return [.. expired.Where(item => Close(item.ProposalId, ReviewStatus.AwaitingReview, ReviewStatus.Expired, null, "no review before the deadline"))];
    }

    private static string Time(DateTimeOffset value) => value.ToString("O", CultureInfo.InvariantCulture);

    private static ReviewItem Read(SqliteDataReader reader)
    {
        string? Text(string column) => reader.IsDBNull(reader.GetOrdinal(column)) ? null : reader.GetString(reader.GetOrdinal(column));
        return new ReviewItem(
            Text("proposal_id")!,
            DateTimeOffset.Parse(Text("created_at")!, CultureInfo.InvariantCulture),
            DateTimeOffset.Parse(Text("expires_at")!, CultureInfo.InvariantCulture),
            reader.GetInt64(reader.GetOrdinal("step")),
            reader.GetInt32(reader.GetOrdinal("branch")),
            InterventionActions.Parse(Text("action")!)!.Value,
            Text("checkpoint_id"), Text("layer"), Text("reason")!, Text("rule")!, Text("summary")!, Text("status")!,
            Text("reviewer"), Text("comment"), Text("command_id"), Text("outcome"));
    }
}

/// <summary>A proposal in the review queue: what was proposed and why, the reviewer's answer and own
/// comment, and (<see cref="Outcome"/>) what came of it: the command that carried it out, or why none did.</summary>
public sealed record ReviewItem(
    string ProposalId, DateTimeOffset CreatedAt, DateTimeOffset ExpiresAt, long Step, int Branch, InterventionAction Action,
    string? CheckpointId, string? Layer, string Reason, string Rule, string Summary, string Status, string? Reviewer, string? Comment,
    string? CommandId, string? Outcome);

/// <summary>A review's life: awaiting_review → approved | rejected | expired | superseded (which a person may
/// still approve or reject until the run ends); an approved one is validated
/// again and queued as a command → applied when the trainer carried it out, failed when it could not,
/// or approved again when the run ended first (it is re-validated when the run is resumed).</summary>
public static class ReviewStatus
{
    public const string AwaitingReview = "awaiting_review";
    public const string Approved = "approved";
    public const string Rejected = "rejected";
    public const string Expired = "expired";
    public const string Queued = "queued";
    public const string Applied = "applied";
    public const string Failed = "failed";

    /// <summary>Replaced by a different proposal while it waited; a person may still approve it while it is valid.</summary>
    public const string Superseded = "superseded";
    public static readonly string[] All = [AwaitingReview, Approved, Rejected, Expired, Queued, Applied, Failed, Superseded];
}
