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
        // supervised.yaml, holding the run while a rollback waits (approval.hold_run, opt-in).
        var gate = new PolicyGate(Policy("supervised") with { HoldRunFor = [InterventionAction.RollbackCheckpoint] });
        var dispatcher = new InterventionDispatcher(gate, _run.Commands, new EffectTracker(10));
        _workflow = new ReviewWorkflow(_reviews, gate, dispatcher, new SupervisionReports(_run, _time));
    }

    private static GateDecision NeedsAPerson => new(Verdict.Review, "approval.required_for", "needs a person");

    private ReviewEvent[] ReviewEvents => [.. _run.Recorded.OfType<ReviewEvent>()];

    [Fact]
    public void One_question_waits_at_a_time_refreshed_when_repeated_and_not_replaced_while_it_can_still_be_applied()
    {
        _workflow.Ask(Proposal("dec-1", InterventionAction.HalveLearningRate, 290), NeedsAPerson, "summary 1", At300, Gate300);
        _workflow.Ask(Proposal("dec-2", InterventionAction.HalveLearningRate, 300), NeedsAPerson, "summary 2", At300, Gate300);
        ReviewItem waiting = Assert.Single(_reviews.List());
        Assert.Equal(("dec-1", 300L, "summary 2"), (waiting.ProposalId, waiting.Step, waiting.Summary)); // same id, fresh

        GateDecision kept = _workflow.Ask(Proposal("dec-3", InterventionAction.ResetLayer, 300, layer: "hidden1"),
            NeedsAPerson, "s3", At300, Gate300);
        Assert.Equal((Verdict.Refuse, "approval.supersede"), (kept.Verdict, kept.Rule));
        Assert.Equal(ReviewStatus.AwaitingReview, Assert.Single(_reviews.List()).Status);

        // The run moved on: the waiting halving is stale, so the agent's next idea replaces it.
        GateState later = Gate300 with { Step = 600, TrainedSteps = 600 };
        GateDecision asked = _workflow.Ask(Proposal("dec-4", InterventionAction.RollbackCheckpoint, 600, "ckpt-000200-b0"),
            NeedsAPerson, "s4", At300 with { Step = 600 }, later);
        Assert.Equal(Verdict.Review, asked.Verdict);
        ReviewItem superseded = _reviews.List().Single(i => i.ProposalId == "dec-1");
        Assert.Equal(ReviewStatus.Superseded, superseded.Status);
        Assert.StartsWith("superseded by dec-4", superseded.Outcome, StringComparison.Ordinal);
        Assert.Equal(ReviewStatus.AwaitingReview, _reviews.List().Single(i => i.ProposalId == "dec-4").Status);
        Assert.Equal(ReviewStatus.Superseded, Assert.Single(ReviewEvents).Status);
    }

    [Fact]
    public void A_superseded_rollback_can_still_be_approved_and_is_applied_while_its_checkpoint_exists()
    {
        _workflow.Ask(Proposal("dec-1", InterventionAction.RollbackCheckpoint, 300, "ckpt-000200-b0"), NeedsAPerson, "s1",
            At300, Gate300);
        GateState gone = Gate300 with { Checkpoints = [] }; // its checkpoint was dropped: the run changed materially
        _workflow.Ask(Proposal("dec-2", InterventionAction.HalveLearningRate, 300), NeedsAPerson, "s2", At300, gone);
        Assert.Equal(ReviewStatus.Superseded, _reviews.List().Single(i => i.ProposalId == "dec-1").Status);

        Assert.Null(_reviews.Decide("dec-1", approve: true, reviewer: "dana", comment: "the spike is the cause"));
        _workflow.ProcessDue(At300 with { Step = 500 }, Gate300 with { Step = 500, TrainedSteps = 500 });
        Assert.Equal(ReviewStatus.Queued, _reviews.List().Single(i => i.ProposalId == "dec-1").Status);
        Assert.Contains(_run.ApplyQueued(), c => c.Command is LoadCheckpointCommand { CheckpointId: "ckpt-000200-b0" });
    }

    [Fact]
    public void A_rejected_proposal_is_not_asked_again_within_the_cooldown_and_the_refusal_quotes_the_reviewer()
    {
        _workflow.Ask(Proposal("dec-1", InterventionAction.ResetLayer, 300, layer: "hidden2"), NeedsAPerson, "s", At300, Gate300);
        Assert.Null(_reviews.Decide("dec-1", approve: false, reviewer: "dana", comment: "the lr spike is the cause"));

        GateDecision again = _workflow.Ask(Proposal("dec-2", InterventionAction.ResetLayer, 320, layer: "hidden2"),
            NeedsAPerson, "s", At300 with { Step = 320 }, Gate300 with { Step = 320 });
        Assert.Equal((Verdict.Refuse, "approval.rejection_cooldown_steps"), (again.Verdict, again.Rule));
        Assert.Contains("dana rejected reset_layer(hidden2) at step 300 (\"the lr spike is the cause\")", again.Reason);
        Assert.Single(_reviews.List());
        GateDecision other = _workflow.Ask(Proposal("dec-3", InterventionAction.HalveLearningRate, 320), NeedsAPerson, "s",
            At300 with { Step = 320 }, Gate300 with { Step = 320 });
        Assert.Equal(Verdict.Review, other.Verdict);
    }

    [Fact]
    public void A_rollback_waiting_for_a_person_holds_the_run_until_it_is_answered()
    {
        _workflow.Ask(Proposal("dec-1", InterventionAction.RollbackCheckpoint, 300, "ckpt-000200-b0"), NeedsAPerson, "s",
            At300, Gate300);
        Assert.IsType<PauseCommand>(Assert.Single(_run.ApplyQueued()).Command);

        Assert.Null(_reviews.Decide("dec-1", approve: true, reviewer: "dana", comment: null));
        _workflow.ProcessDue(At300, Gate300);
        Assert.Equal([typeof(LoadCheckpointCommand), typeof(ResumeCommand)], _run.ApplyQueued().Select(c => c.Command.GetType()));
    }

    [Fact]
    public void When_the_run_ends_what_waits_expires_and_approving_it_then_says_so_and_changes_nothing()
    {
        _workflow.Ask(Proposal("dec-1", InterventionAction.HalveLearningRate, 300), NeedsAPerson, "s", At300, Gate300);
        _workflow.EndOfRun(300, 0);

        string? refused = _reviews.Decide("dec-1", approve: true, reviewer: "dana", comment: null);
        Assert.Equal("proposal 'dec-1' is expired (the run ended at step 300 before anyone answered), not awaiting review; "
            + "nothing was changed.", refused);
        Assert.Equal(ReviewStatus.Expired, Assert.Single(_reviews.List()).Status);
    }

    [Fact]
    public void An_approval_is_queued_once_and_the_review_follows_its_command_to_applied()
    {
        _workflow.Ask(Proposal("dec-1", InterventionAction.HalveLearningRate, 300), NeedsAPerson, "summary", At300, Gate300);
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
        _workflow.Ask(Proposal("dec-1", InterventionAction.HalveLearningRate, 300), NeedsAPerson, "summary", At300, Gate300);
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
        _workflow.Ask(Proposal("dec-1", InterventionAction.HalveLearningRate, 300), NeedsAPerson, "summary", At300, Gate300);
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
