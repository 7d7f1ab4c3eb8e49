using System.Text.Json.Nodes;
using AgentTrainer.Agents;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Training.Checkpoints;
using AgentTrainer.Training.Trainer;
using Microsoft.Extensions.Time.Testing;

namespace AgentTrainer.Tests;

/// <summary>What a night may spend (trained steps, a deadline) and the model it hands back (the best),
/// on real training; and the gate refusing an LLM's rollback to a worse model over the real wire.</summary>
public sealed class BudgetAndBestModelTests
{
    [Fact]
    public void Rolled_back_steps_count_against_the_trained_step_budget_and_the_run_ends_out_of_budget()
    {
        using var harness = new TrainerHarness(o =>
        {
            o.Steps = 200;
            o.MaxTrainedSteps = 220;
            o.CheckpointEvery = 50;
        });
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(150, CancellationToken.None);
        harness.Apply(new LoadCheckpointCommand("ckpt-000100-b0")); // 50 steps to train again

        TrainerResult result = harness.Trainer.Finish(harness.Trainer.RunUntil(200, CancellationToken.None));

        Assert.Equal(RunOutcomes.OutOfBudget, result.Outcome);
        Assert.Equal(170, result.Step); // 150 + 70 more on branch 1 = 220 trained
        Assert.Equal((220, 0), (harness.Trainer.State.TrainedSteps, harness.Trainer.State.BudgetStepsLeft));
    }

    [Fact]
    public void A_deadline_ends_the_run_once_the_clock_passes_it()
    {
        var time = new FakeTimeProvider(new DateTimeOffset(2026, 11, 26, 23, 0, 0, TimeSpan.Zero));
        using var harness = new TrainerHarness(o =>
        {
            o.Steps = 200;
            o.Deadline = "2026-11-27T07:00:00Z";
        }, time: time);
        harness.Trainer.Begin();
        Assert.Equal(RunOutcomes.Completed, harness.Trainer.RunUntil(50, CancellationToken.None));
        Assert.InRange(harness.Trainer.State.BudgetStepsLeft, 1, 350); // the 400-step budget less the 50 taken

        time.Advance(TimeSpan.FromHours(8));

        Assert.Equal(RunOutcomes.OutOfBudget, harness.Trainer.RunUntil(200, CancellationToken.None));
        Assert.Equal(50, harness.Trainer.State.Step);
    }

    /// <summary>An lr spike late in the run leaves the last state worse than step 150's.</summary>
    private static void SpikedLate(TrainingOptions o)
    {
        o.Steps = 200;
        o.Schedule = ScheduleNames.Constant;
        o.LearningRate = 3e-3;
        o.CheckpointEvery = 0; // no periodic checkpoints on disk: the best is written because it is the best
        o.Faults.Add(new FaultOptions { Kind = FaultKinds.LrSpike, Step = 160, Factor = 50 });
    }

    [Fact]
    public void The_best_checkpoint_is_kept_on_disk_and_handed_back_at_the_end_when_it_beats_the_last_state()
    {
        using var harness = new TrainerHarness(o =>
        {
            SpikedLate(o);
            o.LoadBestAtEnd = true;
        });
        RunSummary summary = harness.Run.Execute(CancellationToken.None);

        BestModelRestoredEvent restored = Assert.Single(harness.Events.OfType<BestModelRestoredEvent>());
        FinalFigures final = summary.Final!;
        Assert.Equal("ckpt-000150-b0", restored.CheckpointId);
        Assert.True(restored.ValLoss < restored.LastValLoss, $"{restored.ValLoss} vs the last state's {restored.LastValLoss}");
        Assert.Equal((restored.CheckpointId, restored.CheckpointId), (final.ModelCheckpoint, final.BestCheckpoint));
        Assert.Equal((restored.ValLoss, restored.LastValLoss), (final.FinalValLoss!.Value, final.LastValLoss!.Value));
        Assert.Equal(restored.ValLoss, final.BestCheckpointValLoss);
        Assert.True(File.Exists(harness.Trainer.Checkpoints.Find("ckpt-000150-b0")!.Path), "the best is on disk");
        Assert.True(File.Exists(harness.Trainer.Checkpoints.Find("ckpt-000200-b0")!.Path), "the last state stays on disk");

        // run.json names both, with their losses.
        JsonNode run = JsonNode.Parse(File.ReadAllText(Path.Combine(harness.Folder, "run.json")))!;
        Assert.Equal("ckpt-000150-b0", (string)run["final"]!["model_checkpoint"]!);
        Assert.Equal(restored.LastValLoss, (double)run["final"]!["last_val_loss"]!);
    }

    [Fact]
    public void Without_load_best_at_end_the_last_state_is_the_model_and_the_best_is_still_named()
    {
        using var harness = new TrainerHarness(o =>
        {
            SpikedLate(o);
            o.LoadBestAtEnd = false;
        });
        FinalFigures final = harness.Run.Execute(CancellationToken.None).Final!;

        Assert.Empty(harness.Events.OfType<BestModelRestoredEvent>());
        Assert.Equal(("ckpt-000200-b0", "ckpt-000150-b0"), (final.ModelCheckpoint, final.BestCheckpoint));
        Assert.Equal(final.LastValLoss, final.FinalValLoss);
        // The best was still measured on the whole held-out set, as the last state was: it is better, and not handed back.
        Assert.True(final.BestCheckpointValLoss < final.FinalValLoss, $"{final.BestCheckpointValLoss} vs {final.FinalValLoss}");
    }

    [Fact]
    public void Pruning_disk_checkpoints_never_evicts_the_best()
    {
        using var harness = new TrainerHarness(o =>
        {
            SpikedLate(o);
            o.CheckpointEvery = 20;
            o.CheckpointsKept = 1;
        });
        harness.Run.Execute(CancellationToken.None);

        string[] onDisk = [.. harness.Trainer.Checkpoints.List().Where(c => c.Path is { } path && File.Exists(path)).Select(c => c.Id)];
        Assert.Contains("ckpt-000150-b0", onDisk);
        Assert.Contains("ckpt-000000-b0", onDisk); // the start, for "start over"
    }

    [Fact]
    public async Task An_LLMs_rollback_to_a_worse_checkpoint_is_refused_by_the_gate_and_the_refusal_goes_back_to_the_model()
    {
        await using LoopbackOpenAIServer model = await LoopbackOpenAIServer.StartAsync();
        model.Then(
            LoopbackOpenAIServer.ToolCall("keep_learning_rate", """{"reason":"fine"}"""),                                 // step 80
            LoopbackOpenAIServer.ToolCall("rollback_checkpoint", """{"checkpoint_id":"ckpt-000050-b0","reason":"go back"}"""), // step 160
            LoopbackOpenAIServer.ToolCall("keep_learning_rate", """{"reason":"refused, so keep"}"""));
        var agent = new AgentOptions
        {
            Provider = AgentProviders.OpenAI, Policy = "policies/unattended.yaml", DecideEvery = 80, PauseWhileDeciding = true,
            OpenAI = new OpenAIProviderOptions { BaseUrl = model.BaseUrl.ToString(), Model = "loopback", ApiKeyVariable = "" },
        };
        using var harness = new TrainerHarness(o =>
        {
            o.Steps = 200;
            o.CheckpointEvery = 50;
        }, agent);

        harness.Trainer.Run(CancellationToken.None);

        ProposalEvent rollback = Assert.Single(harness.Events.OfType<ProposalEvent>(), p => p.Action == InterventionAction.RollbackCheckpoint);
        Assert.Equal((Verdict.Refuse, "rollback.max_regression"), (rollback.Verdict, rollback.Rule));
        Assert.Matches(@"^ckpt-000050-b0's validation loss [\d.]+ is [\d.]+ % worse than the run's best [\d.]+ \(at most 5 %\)",
            rollback.GateReason);
        Assert.Equal(1, harness.Trainer.Branches.Count); // nothing was rolled back
        Assert.Contains(model.Requests, request => request.ToJsonString().Contains("refused (rollback.max_regression)", StringComparison.Ordinal));
    }
}
