using AgentTrainer.Agents.Storage;
using AgentTrainer.Agents.Supervision;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;
using AgentTrainer.Core.Summaries;
using Microsoft.Extensions.Time.Testing;
using static AgentTrainer.Agents.Tests.Shipped;

namespace AgentTrainer.Agents.Tests;

public sealed class ReviewWorkflowTests : IDisposable
{
    private static readonly CheckpointSummary[] Checkpoints = [new("ckpt-000200-b0", 200, 0, 2.0, 2.0)];
    private static readonly RunState At300 = new(300, 1000, 0, 1e-3, 1e-3, false, 2.1, 300, 700);
    private static readonly GateState Gate300 = new(300, 0, 300, 1e-3, 1e-3, Checkpoints, [], 2.0, 2.0, false, 700);

    private readonly string _folder = Directory.CreateTempSubdirectory("reviews-").FullName;
    private readonly FakeTimeProvider _time = new(DateTimeOffset.Parse("2026-11-27T01:00:00Z", null));
    private readonly FakeRun _run;
    private readonly ReviewQueue _reviews;
    private readonly ReviewWorkflow _workflow;

    public ReviewWorkflowTests()
    {
        _run = new FakeRun(_time);
        _reviews = new ReviewQueue(Path.Combine(_folder, AgentDatabase.FileName), _time);
        var gate = new PolicyGate(Policy("supervised"));
        var dispatcher = new InterventionDispatcher(gate, _run.Commands, new EffectTracker(10));
        _workflow = new ReviewWorkflow(_reviews, gate, dispatcher, new SupervisionReports(_run, _time));
    }

    private static GateDecision NeedsAPerson => new(Verdict.Review, "approval.required_for", "needs a person");

    private ReviewEvent[] ReviewEvents => [.. _run.Recorded.OfType<ReviewEvent>()];

    [Fact]
    public void One_question_waits_at_a_time_refreshed_when_repeated_replaced_when_different()
    {
        _workflow.Ask(Proposal("dec-1", InterventionAction.HalveLearningRate, 290), NeedsAPerson, "summary 1", At300);
        _workflow.Ask(Proposal("dec-2", InterventionAction.HalveLearningRate, 300), NeedsAPerson, "summary 2", At300);
        ReviewItem waiting = Assert.Single(_reviews.List());
        Assert.Equal(("dec-1", 300L, "summary 2"), (waiting.ProposalId, waiting.Step, waiting.Summary)); // same id, fresh

        _workflow.Ask(Proposal("dec-3", InterventionAction.RollbackCheckpoint, 300, "ckpt-000200-b0"), NeedsAPerson, "s3", At300);
        ReviewItem superseded = _reviews.List().Single(i => i.ProposalId == "dec-1");
        Assert.Equal((ReviewStatus.Expired, "superseded by dec-3"), (superseded.Status, superseded.Outcome));
        Assert.Equal(ReviewStatus.AwaitingReview, _reviews.List().Single(i => i.ProposalId == "dec-3").Status);
        Assert.Equal(ReviewStatus.Expired, Assert.Single(ReviewEvents).Status);
    }

    [Fact]
    public void An_approval_is_queued_once_and_the_review_follows_its_command_to_applied()
    {
        _workflow.Ask(Proposal("dec-1", InterventionAction.HalveLearningRate, 300), NeedsAPerson, "summary", At300);
        Assert.Null(_reviews.Decide("dec-1", approve: true, reviewer: "dana", comment: "go"));

        _workflow.ProcessDue(At300, Gate300);
        _workflow.ProcessDue(At300, Gate300); // a second pass must not queue it again
        ReviewItem queued = Assert.Single(_reviews.List());
        Assert.Equal(ReviewStatus.Queued, queued.Status);
        CommandRecord command = Assert.Single(_run.ApplyQueued());
        Assert.Equal((queued.CommandId, CommandSource.Human, ReviewWorkflow.ReviewKey("dec-1")), (command.Id, command.Source, command.Key));

        foreach (CommandEvent ended in _run.Recorded.OfType<CommandEvent>().ToList())
        {
            _workflow.Follow(ended);
        }
        ReviewItem applied = Assert.Single(_reviews.List());
        Assert.Equal(ReviewStatus.Applied, applied.Status);
        Assert.StartsWith($"applied as {command.Id} at step 0", applied.Outcome, StringComparison.Ordinal);
        Assert.Equal([ReviewStatus.Queued, ReviewStatus.Applied], ReviewEvents.Select(e => e.Status));
    }

    [Fact]
    public void An_approval_the_run_ends_before_applying_is_approved_again_and_one_no_longer_valid_expires()
    {
        _workflow.Ask(Proposal("dec-1", InterventionAction.HalveLearningRate, 300), NeedsAPerson, "summary", At300);
        Assert.Null(_reviews.Decide("dec-1", approve: true, reviewer: "dana", comment: null));
        _workflow.ProcessDue(At300, Gate300);
        _run.Commands.Close(300, "not applied: the run ended (completed) at step 300 first");
        foreach (CommandEvent ended in _run.Recorded.OfType<CommandEvent>().ToList())
        {
            _workflow.Follow(ended);
        }
        Assert.Equal(ReviewStatus.Approved, Assert.Single(_reviews.List()).Status);

        GateState elsewhere = Gate300 with { Branch = 1 }; // the run moved on to another branch: stale
        _workflow.ProcessDue(At300 with { Branch = 1 }, elsewhere);
        ReviewItem expired = Assert.Single(_reviews.List());
        Assert.Equal(ReviewStatus.Expired, expired.Status);
        Assert.StartsWith("approved, but no longer valid: the proposal was based on step 300 of branch 0", expired.Outcome,
            StringComparison.Ordinal);
    }

    [Fact]
    public void A_question_nobody_answers_expires_at_its_deadline()
    {
        _workflow.Ask(Proposal("dec-1", InterventionAction.HalveLearningRate, 300), NeedsAPerson, "summary", At300);
        _time.Advance(TimeSpan.FromHours(3));
        _workflow.ProcessDue(At300, Gate300);
        Assert.Equal(ReviewStatus.Expired, Assert.Single(_reviews.List()).Status);
        Assert.Equal("no review before the deadline", Assert.Single(ReviewEvents).Outcome);
    }

    public void Dispose()
    {
        _run.Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }
}
