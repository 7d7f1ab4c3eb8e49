using System.CommandLine;
using AgentTrainer.Agents.Storage;
using AgentTrainer.App.Hosting;

namespace AgentTrainer.App.Cli;

/// <summary><c>agent-trainer review list|approve|reject</c>: over the running host's API (with the
/// token), or with <c>--run DIR</c> straight on a run folder's durable queue when no host is running
/// (a restarted run picks the decision up). Either way the supervisor validates an approval again.</summary>
public static class ReviewCommandLine
{
    public static Command Create()
    {
        var api = new ApiOptions();
        var run = new Option<string?>("--run") { Description = "a run folder: use its review queue directly instead of a running host's API" };
        var status = new Option<string?>("--status") { Description = $"only proposals with this status ({string.Join(", ", ReviewStatus.All)})" };
        var list = new Command("list", "List proposals in the review queue.") { run, status };
        api.AddTo(list);
        list.SetAction((parse, _) => ApiOptions.Guard(async () =>
        {
            IReadOnlyList<ReviewItem> items;
            if (parse.GetValue(run) is { } folder)
            {
                items = Queue(folder).List(parse.GetValue(status));
            }
            else
            {
                using ControlPlaneClient client = api.Connect(parse);
                items = await client.Reviews(parse.GetValue(status)).ConfigureAwait(false);
            }
            foreach (ReviewItem item in items)
            {
                Print(item);
            }
            return ExitCodes.Success;
        }));
        return new Command("review", "The review queue of proposals waiting for a person.")
        {
            list, Decision("approve", api, run, approve: true), Decision("reject", api, run, approve: false),
        };
    }

    private static Command Decision(string name, ApiOptions api, Option<string?> run, bool approve)
    {
        var id = new Argument<string>("proposal-id") { Description = "the proposal's id (see review list)" };
        var reviewer = new Option<string>("--reviewer") { Description = "who decides", DefaultValueFactory = _ => Environment.UserName };
        var comment = new Option<string?>("--comment") { Description = "why" };
        var command = new Command(name, approve ? "Approve a proposal: it is validated again and applied." : "Reject a proposal.") { id, run, reviewer, comment };
        api.AddTo(command);
        command.SetAction((parse, _) => ApiOptions.Guard(async () =>
        {
            string proposal = parse.GetValue(id)!;
            if (parse.GetValue(run) is { } folder)
            {
                if (Queue(folder).Decide(proposal, approve, parse.GetValue(reviewer)!, parse.GetValue(comment)) is { } problem)
                {
                    throw new ControlPlaneClientException(problem);
                }
            }
            else
            {
                using ControlPlaneClient client = api.Connect(parse);
                await client.Decide(proposal, approve, parse.GetValue(reviewer)!, parse.GetValue(comment)).ConfigureAwait(false);
            }
            Console.WriteLine($"{proposal} {(approve ? "approved" : "rejected")}.");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static ReviewQueue Queue(string runFolder)
    {
        string database = Path.Combine(runFolder, AgentDatabase.FileName);
        return File.Exists(database)
            ? new ReviewQueue(database, TimeProvider.System)
            : throw new ControlPlaneClientException($"--run {runFolder}: no review queue there ({AgentDatabase.FileName} not found).");
    }

    private static void Print(ReviewItem item)
    {
        string target = item.CheckpointId is { } checkpoint ? $"({checkpoint})" : item.Layer is { } layer ? $"({layer})" : "";
        Console.WriteLine($"{item.ProposalId}  {item.Status,-15} step {item.Step} branch {item.Branch}  {item.Action}{target}  rule {item.Rule}");
        Console.WriteLine($"    reason: {item.Reason}");
        if (item.Reviewer is not null)
        {
            Console.WriteLine($"    reviewed by {item.Reviewer}: {item.Comment}");
        }
        if (item.Outcome is not null)
        {
            Console.WriteLine($"    outcome: {item.Outcome}");
        }
    }
}
