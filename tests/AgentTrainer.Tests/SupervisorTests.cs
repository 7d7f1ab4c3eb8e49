using System.Text.Json.Nodes;
using AgentTrainer.Agents;
using AgentTrainer.Agents.Decisions;
using AgentTrainer.Agents.Resilience;
using AgentTrainer.Agents.Storage;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;

namespace AgentTrainer.Tests;

/// <summary>The whole loop on real training: summaries, the rules model over Semantic Kernel, the
/// gate, commands, guards, the review queue and the audit log.</summary>
public class SupervisorTests
{
    private static AgentOptions Rules(string policy = "policies/unattended.yaml", int every = 20) => new()
    {
        Provider = AgentProviders.Rules, Policy = policy, DecideEvery = every, PauseWhileDeciding = true, EffectWindowSteps = 20,
    };

    private static void WithLrSpike(TrainingOptions o)
    {
        o.Steps = 260;
        o.Schedule = ScheduleNames.Constant;
        o.LearningRate = 3e-3;
        o.Faults.Add(new FaultOptions { Kind = FaultKinds.LrSpike, Step = 120, Factor = 50 });
    }

    [Fact]
    public void TheRulesAgent_RollsBackAnLrSpike_AndTheLossRecovers()
    {
        using var harness = new TrainerHarness(WithLrSpike, Rules());
        harness.Trainer.Run(CancellationToken.None);

        DecisionRecord rollback = harness.Agent!.Supervisor.Decisions.First(d => d.Final?.Proposal.Action == InterventionAction.RollbackCheckpoint);
        Assert.Equal(Verdict.Apply, rollback.Final!.Decision.Verdict);
        Assert.True(rollback.Step > 120);
        Assert.True(harness.Trainer.Branches.Count >= 2);
        double beforeFault = harness.MeanLoss(0, 100, 120);
        int lastBranch = harness.Trainer.State.Branch;
        double end = harness.MeanLoss(lastBranch, 240, 260);
        Assert.True(end <= beforeFault * 1.10, $"loss {end:F3} at the end vs {beforeFault:F3} before the fault");
        Assert.Contains(harness.Events, e => e is CommandEvent { Source: CommandSource.Agent, Kind: CommandKinds.LoadCheckpoint, Status: CommandStatus.Succeeded });
    }

    [Theory]
    [InlineData(1e-5, true)]       // far too low: a higher lr must win
    [InlineData(3e-3, false)]      // the synthetic task's own lr: kept unless beaten by the margin
    public void UnderResearchYaml_TheRulesAgentTestsAHeldLr_AndTheRunContinuesOnTheBestBranch(double lr, bool tooLow)
    {
        using var harness = new TrainerHarness(o =>
        {
            o.Steps = 400;
            o.Schedule = ScheduleNames.Constant;
            o.LearningRate = lr;
        }, Rules("policies/research.yaml", every: 50));
        harness.Trainer.Run(CancellationToken.None);

        ProposalEvent explore = Assert.Single(harness.Events.OfType<ProposalEvent>(),
            p => p.Action == InterventionAction.ExploreLearningRate);
        Assert.Equal((Verdict.Apply, 100L), (explore.Verdict, explore.Step));
        ExplorationFinishedEvent[] rounds = [.. harness.Events.OfType<ExplorationFinishedEvent>()];
        Assert.NotEmpty(rounds);
        Assert.All(rounds, r => Assert.Equal(5, r.Candidates.Count));
        ExploredBranch chosen = rounds[^1].Candidates.Single(c => c.Branch == rounds[^1].ChosenBranch);
        if (tooLow)
        {
            Assert.True(harness.Trainer.State.BaseLearningRate >= 1e-4, $"lr {harness.Trainer.State.BaseLearningRate}");
        }
        Assert.Equal(chosen.LearningRate, harness.Trainer.State.BaseLearningRate, 12);
        Assert.Contains(harness.Events, e => e is CommandEvent
        {
            Kind: CommandKinds.Explore, Source: CommandSource.Agent, Status: CommandStatus.Succeeded,
        });
        // Nothing was decided while the branches trained: the agent waited for the exploration's choice.
        long end = rounds[^1].Step;
        Assert.DoesNotContain(harness.Agent!.Supervisor.Decisions, d => d.Step > 100 && d.Step < end);
    }

    [Fact]
    public void ANonFiniteLoss_IsRolledBackByTheGuard_WithoutAskingTheModel()
    {
        using var harness = new TrainerHarness(o =>
        {
            o.Steps = 120;
            o.Faults.Add(new FaultOptions { Kind = FaultKinds.ScaleLayer, Step = 70, Layer = "output", Factor = 1e38 });
        }, Rules(every: 1000));
        Training.Trainer.TrainerResult result = harness.Trainer.Run(CancellationToken.None);

        Assert.Equal(RunOutcomes.Completed, result.Outcome);
        ProposalEvent guard = Assert.Single(harness.Events.OfType<ProposalEvent>(), p => p.Source == CommandSource.Guard);
        Assert.Equal((InterventionAction.RollbackCheckpoint, Verdict.Apply), (guard.Action, guard.Verdict));
        Assert.Equal("ckpt-000050-b0", guard.CheckpointId); // the latest with a finite validation loss
        Assert.Contains(harness.Events, e => e is CommandEvent { Source: CommandSource.Guard, Status: CommandStatus.Succeeded });
        Assert.All(harness.Steps.Where(s => s.Branch == 1), s => Assert.False(s.NonFinite));
    }

    [Fact]
    public async Task UnderSupervision_ProposalsWaitForAPerson_SurviveARestart_AndAreAppliedOnceApproved()
    {
        using var harness = new TrainerHarness(WithLrSpike, Rules("policies/supervised.yaml"));
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(150, CancellationToken.None);

        string database = Path.Combine(harness.Folder, AgentDatabase.FileName);
        var reopened = new ReviewQueue(database, TimeProvider.System); // another process's view of the same file
        ReviewItem waiting = reopened.List(ReviewStatus.AwaitingReview)[0];
        Assert.Equal("approval.required_for", waiting.Rule);
        Assert.Contains("# Training run at step", waiting.Summary, StringComparison.Ordinal);
        Assert.DoesNotContain(harness.Events, e => e is CommandEvent { Source: CommandSource.Agent });

        Assert.Equal("a review needs the reviewer's name.", reopened.Decide(waiting.ProposalId, approve: true, reviewer: " ", comment: null));
        Assert.Null(reopened.Decide(waiting.ProposalId, approve: true, reviewer: "dana", comment: "go ahead"));
        Assert.Contains("is approved, not awaiting review", reopened.Decide(waiting.ProposalId, approve: false, reviewer: "sam", comment: null), StringComparison.Ordinal);

        await harness.Agent!.Supervisor.ProcessReviewsAsync();
        await harness.Agent.Supervisor.ProcessReviewsAsync(); // a second pass must not queue it again
        harness.Trainer.RunUntil(0, CancellationToken.None);
        await harness.Agent.Supervisor.SettledAsync(); // the review follows its command's report
        ReviewItem applied = reopened.List().Single(i => i.ProposalId == waiting.ProposalId);
        Assert.Equal(ReviewStatus.Applied, applied.Status);
        CommandEvent[] human = [.. harness.Events.OfType<CommandEvent>().Where(e => e.Source == CommandSource.Human && e.Status == CommandStatus.Succeeded)];
        Assert.Equal(applied.CommandId, Assert.Single(human).Id);
    }

    private static async Task<string> Approve(TrainerHarness harness, string id, InterventionAction action, string? checkpoint = null)
    {
        var proposal = new Proposal
        {
            Id = id, Action = action, Reason = "test", Source = CommandSource.Agent, CheckpointId = checkpoint,
            BasedOnStep = harness.Trainer.State.Step, BasedOnBranch = harness.Trainer.State.Branch,
        };
        harness.Agent!.Reviews.Add(proposal, new GateDecision(Verdict.Review, "approval.required_for", "needs a person"), "summary", TimeSpan.FromHours(1));
        Assert.Null(harness.Agent.Reviews.Decide(id, approve: true, reviewer: "dana", comment: null));
        await harness.Agent.Supervisor.ProcessReviewsAsync();
        return id;
    }

    private static ReviewItem Review(TrainerHarness harness, string id) => harness.Agent!.Reviews.List().Single(i => i.ProposalId == id);

    [Fact]
    public async Task An_approval_the_run_ends_before_applying_is_not_marked_applied_and_is_owed_if_the_run_resumes()
    {
        using var harness = new TrainerHarness(o => o.Steps = 40, Rules("policies/supervised.yaml", every: 1000));
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(40, CancellationToken.None);
        double lr = harness.Trainer.State.BaseLearningRate;
        string id = await Approve(harness, "late", InterventionAction.HalveLearningRate);
        Assert.Equal(ReviewStatus.Queued, Review(harness, id).Status); // queued as a command: not applied yet

        harness.Trainer.Finish(RunOutcomes.Completed); // the run ends before the command's turn

        ReviewItem item = Review(harness, id);
        Assert.Equal(ReviewStatus.Approved, item.Status);
        Assert.StartsWith("not applied: the run ended (completed) at step 40 first", item.Outcome, StringComparison.Ordinal);
        Assert.Contains(harness.Events, e => e is CommandEvent { Id: var commandId, Status: CommandStatus.Cancelled } && commandId == item.CommandId);
        Assert.Equal(lr, harness.Trainer.State.BaseLearningRate);
    }

    [Fact]
    public async Task Rollbacks_applied_in_earlier_sessions_count_against_the_policys_limit_after_a_restart()
    {
        DateTimeOffset now = DateTimeOffset.UtcNow;
        RunEvent[] earlierSessions = [.. Enumerable.Range(1, 10).SelectMany(i => new RunEvent[]
        {
            new ProposalEvent
            {
                Time = now, Step = i, Branch = 0, ProposalId = $"dec-{i}-p1", Source = CommandSource.Agent, Action = InterventionAction.RollbackCheckpoint,
                Reason = "spike", Verdict = Verdict.Apply, Rule = "within_policy", GateReason = "ok", CommandId = $"cmd-{i:D5}",
            },
            new CommandEvent
            {
                Time = now, Step = i, Branch = 0, Id = $"cmd-{i:D5}", Kind = CommandKinds.LoadCheckpoint, Source = CommandSource.Agent,
                Arguments = new LoadCheckpointCommand("ckpt-000000-b0"), Status = CommandStatus.Succeeded,
            },
        })];
        using var harness = new TrainerHarness(o => o.Steps = 100, Rules("policies/supervised.yaml", every: 1000), // rollback.max_per_run: 10
            beforeAttach: h => h.Agent!.Supervisor.ContinueAfterResume(earlierSessions, h.Trainer.AppliedKeys, "ckpt-000000-b0"));
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(60, CancellationToken.None);

        string id = await Approve(harness, "eleventh", InterventionAction.RollbackCheckpoint, "ckpt-000050-b0");

        ReviewItem item = Review(harness, id);
        Assert.Equal(ReviewStatus.Expired, item.Status);
        Assert.Equal("approved, but no longer valid: 10 rollbacks already; the policy allows 10 per run.", item.Outcome);
        Assert.Equal(1, harness.Trainer.Branches.Count);
    }

    [Fact]
    public void UnderSupervision_ARepeatedProposalRefreshesItsRow_OneIsReplacedOnlyWhenItCannotBeApplied_AndAllExpireWithTheRun()
    {
        using var harness = new TrainerHarness(WithLrSpike, Rules("policies/supervised.yaml"));
        harness.Trainer.Run(CancellationToken.None);

        IReadOnlyList<ReviewItem> asked = harness.Agent!.Reviews.List(); // repeats refreshed the waiting row
        int sent = harness.Events.OfType<ProposalEvent>().Count(p => p.Verdict == Verdict.Review);
        Assert.True(asked.Count < sent, $"{asked.Count} rows for {sent} proposals sent to review");
        // Replaced only once it could no longer be applied (its checkpoint gone): each but the last superseded.
        Assert.Equal(asked.Count - 1, harness.Events.OfType<ReviewEvent>().Count(e => e.Status == ReviewStatus.Superseded));
        Assert.All(asked, r => Assert.Equal( // nobody answered before the run ended
            (ReviewStatus.Expired, "the run ended at step 260 before anyone answered"), (r.Status, r.Outcome)));
    }

    [Fact]
    public async Task EveryDecision_IsAudited_InSqliteAndEventsJsonl_WithItsSummaryAndModelCall()
    {
        using var kept = new TrainerHarness(o => o.Steps = 60, Rules());
        kept.Trainer.Run(CancellationToken.None);
        await kept.Agent!.Audit.DisposeAsync(); // flushes the audit writer
        var decisions = AuditLog.Read(Path.Combine(kept.Folder, AgentDatabase.FileName), "agent_decision");
        Assert.Equal(3, decisions.Count); // steps 19, 39, 59
        JsonNode first = JsonNode.Parse(decisions[0].Json)!;
        Assert.Equal("rules", (string)first["provider"]!);
        Assert.StartsWith("# Training run at step 20 of 60", (string)first["summary"]!, StringComparison.Ordinal);
        Assert.Equal("keep_learning_rate", (string)first["model_calls"]![0]!["tool_call"]!);
        Assert.Equal(3, AuditLog.Read(Path.Combine(kept.Folder, AgentDatabase.FileName), "proposal").Count);
        Assert.Equal(3, kept.Events.OfType<AgentDecisionEvent>().Count());
    }

    [Fact]
    public void AModelEndpointThatIsDownThroughout_LetsTheRunFinish_WithEveryFallbackRecorded()
    {
        var options = new AgentOptions
        {
            Provider = AgentProviders.OpenAI, DecideEvery = 20, PauseWhileDeciding = true,
            OpenAI = new OpenAIProviderOptions { BaseUrl = "http://127.0.0.1:9/v1", Model = "nobody-home", ApiKeyVariable = "" },
            Resilience = new ResilienceOptions { MaxRetries = 1, BaseDelay = TimeSpan.FromMilliseconds(10), AttemptTimeout = TimeSpan.FromSeconds(2), TotalTimeout = TimeSpan.FromSeconds(10) },
        };
        using var harness = new TrainerHarness(o => o.Steps = 100, options);
        Assert.Equal(RunOutcomes.Completed, harness.Trainer.Run(CancellationToken.None).Outcome);
        DecisionRecord[] decisions = [.. harness.Agent!.Supervisor.Decisions];
        Assert.Equal(5, decisions.Length);
        Assert.All(decisions, d =>
        {
            Assert.Equal(ModelCallOutcomes.FallbackKeep, d.Turns.Single().Trace.Outcome);
            Assert.Equal(InterventionAction.KeepLearningRate, d.Final!.Proposal.Action);
        });
        Assert.Contains(decisions, d => d.Turns[0].Trace.Error == "circuit open"); // after enough failures the breaker stops trying
    }
}
