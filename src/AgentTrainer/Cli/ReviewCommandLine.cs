using System.CommandLine;
using AgentTrainer.Agents.Storage;
using AgentTrainer.App.Hosting;

namespace AgentTrainer.App.Cli;

/// <summary><c>agent-trainer review list|approve|reject</c> on a run folder's durable review queue.
/// The running supervisor picks up approvals, validates them again and queues them as commands.</summary>
public static class ReviewCommandLine
{
    public static Command Create()
    {
        var run = new Option<string>("--run") { Description = "the run's output folder", DefaultValueFactory = _ => "runs/latest" };
        var status = new Option<string?>("--status") { Description = "only proposals with this status (awaiting_review, approved, rejected, expired, applied)" };
        var list = new Command("list", "List proposals in the review queue.") { run, status };
        list.SetAction(parse =>
        {
            if (Queue(parse.GetValue(run)!) is not { } queue)
            {
                return ExitCodes.InvalidOptions;
            }
            foreach (ReviewItem item in queue.List(parse.GetValue(status)))
            {
                Console.WriteLine($"{item.ProposalId}  {item.Status,-15} step {item.Step} branch {item.Branch}  {item.Action}{Target(item)}  rule {item.Rule}");
                Console.WriteLine($"    reason: {item.Reason}");
                if (item.Reviewer is not null)
                {
                    Console.WriteLine($"    reviewed by {item.Reviewer}: {item.Comment}");
                }
            }
            return ExitCodes.Success;
        });
        var review = new Command("review", "The review queue of proposals waiting for a person.") { list, Decision("approve", run, approve: true), Decision("reject", run, approve: false) };
        return review;
    }

    private static Command Decision(string name, Option<string> run, bool approve)
    {
        var id = new Argument<string>("proposal-id") { Description = "the proposal's id (see review list)" };
        var reviewer = new Option<string>("--reviewer") { Description = "who decides", DefaultValueFactory = _ => Environment.UserName };
        var comment = new Option<string?>("--comment") { Description = "why" };
        var command = new Command(name, approve ? "Approve a proposal: it is validated again and applied." : "Reject a proposal.") { id, run, reviewer, comment };
        command.SetAction(parse =>
        {
            if (Queue(parse.GetValue(run)!) is not { } queue)
            {
                return ExitCodes.InvalidOptions;
            }
            string? problem = queue.Decide(parse.GetValue(id)!, approve, parse.GetValue(reviewer)!, parse.GetValue(comment));
            if (problem is not null)
            {
                Console.Error.WriteLine($"error: {problem}");
                return ExitCodes.InvalidOptions;
            }
            Console.WriteLine($"{parse.GetValue(id)} {(approve ? "approved" : "rejected")}.");
            return ExitCodes.Success;
        });
        return command;
    }

    private static ReviewQueue? Queue(string runFolder)
    {
        string database = Path.Combine(runFolder, AgentDatabase.FileName);
        if (!File.Exists(database))
        {
            Console.Error.WriteLine($"error: --run {runFolder}: no review queue there ({AgentDatabase.FileName} not found).");
            return null;
        }
        return new ReviewQueue(database, TimeProvider.System);
    }

    private static string Target(ReviewItem item) =>
        item.CheckpointId is { } checkpoint ? $"({checkpoint})" : item.Layer is { } layer ? $"({layer})" : "";
}
