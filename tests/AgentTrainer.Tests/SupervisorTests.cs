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
    public void UnderSupervision_ProposalsWaitForAPerson_SurviveARestart_AndAreAppliedOnceApproved()
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

        harness.Agent!.Supervisor.ProcessReviews();
        harness.Agent.Supervisor.ProcessReviews(); // a second pass must not queue it again
        harness.Trainer.RunUntil(0, CancellationToken.None);
        ReviewItem applied = reopened.List().Single(i => i.ProposalId == waiting.ProposalId);
        Assert.Equal(ReviewStatus.Applied, applied.Status);
        CommandEvent[] human = [.. harness.Events.OfType<CommandEvent>().Where(e => e.Source == CommandSource.Human && e.Status == CommandStatus.Succeeded)];
        Assert.Equal(applied.CommandId, Assert.Single(human).Id);
    }

    [Fact]
    public void UnderSupervision_OneProposalWaitsAtATime_RefreshedWhenRepeated_ReplacedWhenDifferent()
    {
        using var harness = new TrainerHarness(WithLrSpike, Rules("policies/supervised.yaml"));
        harness.Trainer.Run(CancellationToken.None);

        ProposalEvent[] sent = [.. harness.Events.OfType<ProposalEvent>().Where(p => p.Verdict == Verdict.Review)];
        IReadOnlyList<ReviewItem> rows = harness.Agent!.Reviews.List();
        Assert.True(sent.Length >= 2, $"{sent.Length} proposals sent to review");
        ReviewItem waiting = Assert.Single(rows, r => r.Status == ReviewStatus.AwaitingReview);
        Assert.Equal((sent[^1].Action, sent[^1].Reason), (waiting.Action, waiting.Reason)); // the question is about the run as it is now
        Assert.All(rows.Where(r => r.Status == ReviewStatus.Expired), r => Assert.StartsWith("superseded by dec-", r.Comment, StringComparison.Ordinal));
        // A repeated proposal refreshed the waiting row instead of adding one.
        Assert.True(rows.Count < sent.Length || sent.Select(p => p.Action).Distinct().Count() == sent.Length);
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
            Resilience = new ResilienceOptions { MaxRetries = 1, BaseDelaySeconds = 0.01, AttemptTimeoutSeconds = 2, TotalTimeoutSeconds = 10 },
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
