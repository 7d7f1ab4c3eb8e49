using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Records;

namespace AgentTrainer.Tests;

/// <summary>explore on a real synthetic run: branches from one step, each at its lr, trained on the same batches,
/// compared on the same held-out batches, the best continued; every branch replays to the same bits.</summary>
public class ExploreTests
{
    private static ExploreCommand Explore(params double[] factors) =>
        new() { LearningRateFactors = factors, Steps = 20 };

    [Fact]
    public void Explore_TrainsEachBranchFromTheSameStep_ContinuesTheBest_AndEachBranchIsTheRunAtItsLr()
    {
        using var harness = new TrainerHarness(o => o.Steps = 80);
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(20, CancellationToken.None);
        CommandRecord explore = harness.Commands.Submit(Explore(0.5, 1, 4), CommandSource.Human);
        harness.Trainer.RunUntil(0, CancellationToken.None);
        Assert.Equal(CommandStatus.Running, explore.Status);
        Assert.True(harness.Trainer.State.Exploring);
        harness.Trainer.RunUntil(60, CancellationToken.None);

        Assert.Equal(CommandStatus.Succeeded, explore.Status);
        ExplorationFinishedEvent finished = Assert.Single(harness.Events.OfType<ExplorationFinishedEvent>());
        Assert.Equal(20, finished.ForkStep);
        Assert.Equal([(0, 1.0), (1, 0.5), (2, 4.0)], finished.Candidates.Select(c => (c.Branch, c.LearningRateFactor)));
        ExploredBranch best = finished.Candidates.MinBy(c => c.ValLoss)!;
        ExploredBranch current = finished.Candidates[0];
        int expected = best.ValLoss < current.ValLoss * 0.99 ? best.Branch : current.Branch;
        Assert.Equal(expected, finished.ChosenBranch);
        Assert.Equal(expected, harness.Trainer.State.Branch);
        Assert.Equal(60, harness.Trainer.State.Step);
        Assert.Equal(20 + (3 * 20) + 20, harness.Trainer.State.TrainedSteps); // every branch's steps were spent
        Assert.False(harness.Trainer.State.Exploring);

        // Each branch is what the run would have been at its lr: ×1 is the run untouched, ×0.5 a halving at step 20.
        using var plain = new TrainerHarness(o => o.Steps = 80);
        plain.Trainer.Begin();
        plain.Trainer.RunUntil(20, CancellationToken.None);
        plain.Apply(UpdateOptimizerCommand.ScaleLearningRate(0.5));
        plain.Trainer.RunUntil(40, CancellationToken.None);
        Assert.Equal(plain.Losses(0, 20, 40), harness.Losses(branch: 1, 20, 40));
        Assert.NotEqual(harness.Losses(0, 20, 40), harness.Losses(1, 20, 40));
    }

    [Fact]
    public void AfterExploring_ACheckpointOfTheChosenBranch_ReplaysBitForBit()
    {
        using var harness = new TrainerHarness(o => o.Steps = 100);
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(20, CancellationToken.None);
        harness.Commands.Submit(Explore(0.25, 2), CommandSource.Human);
        harness.Trainer.RunUntil(50, CancellationToken.None);
        int chosen = harness.Trainer.State.Branch;
        CommandRecord save = harness.Apply(new SaveCheckpointCommand { ToDisk = false });
        harness.Trainer.RunUntil(80, CancellationToken.None);
        harness.Apply(new LoadCheckpointCommand(save.Reason!["saved ".Length..]));
        harness.Trainer.RunUntil(80, CancellationToken.None);
        Assert.Equal(harness.Losses(chosen, 50, 80), harness.Losses(harness.Trainer.State.Branch, 50, 80));
    }

    [Fact]
    public void WhileExploring_OtherCommandsFailWithTheReason_AndPauseStillWorks()
    {
        using var harness = new TrainerHarness(o => o.Steps = 80);
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(10, CancellationToken.None);
        harness.Commands.Submit(Explore(0.5, 1), CommandSource.Human);
        harness.Trainer.RunUntil(15, CancellationToken.None);
        CommandRecord halve = harness.Apply(UpdateOptimizerCommand.ScaleLearningRate(0.5));
        Assert.Equal(CommandStatus.Failed, halve.Status);
        Assert.Contains("an exploration is training its branches until step 30", halve.Reason, StringComparison.Ordinal);
        Assert.Equal(CommandStatus.Succeeded, harness.Apply(new EvaluateCommand()).Status);
    }

    public static TheoryData<string, string> Refused => new()
    {
        { "past the end", "branches of 20 steps from step 70 would end past the run's last step 80" },
        { "over budget", "exploring 3 branches of 20 steps trains 60 steps; the budget has" },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public void AnExplorationTheRunCannotPayFor_FailsWithItsReason_AndChangesNothing(string bad, string reason)
    {
        using var harness = new TrainerHarness(o =>
        {
            o.Steps = 80;
            o.MaxTrainedSteps = bad == "over budget" ? 100 : 0;
        });
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(bad == "past the end" ? 70 : 50, CancellationToken.None);
        int branches = harness.Trainer.Branches.Count;
        CommandRecord explore = harness.Apply(Explore(0.5, 1, 2));
        Assert.Equal(CommandStatus.Failed, explore.Status);
        Assert.Contains(reason, explore.Reason, StringComparison.Ordinal);
        Assert.False(harness.Trainer.State.Exploring);
        Assert.Equal(branches, harness.Trainer.Branches.Count);
        Assert.Equal(harness.Options.LearningRate, harness.Trainer.State.BaseLearningRate);
    }

    [Fact]
    public async Task UnderChooseByPerson_TheRunPausesAfterTheLastRound_AndContinuesOnTheBranchAPersonPicks()
    {
        using var harness = new TrainerHarness(o => o.Steps = 80);
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(20, CancellationToken.None);
        CommandRecord early = harness.Apply(new ChooseBranchCommand(1));
        Assert.Equal("no exploration waits for a person's choice of branch.", early.Reason);
        CommandRecord explore = harness.Commands.Submit(
            Explore(0.5, 1, 2) with { ChooseBy = BranchChoice.Person }, CommandSource.Human);
        CommandRecord? wrong = null, picked = null;
        Task person = Task.Run(async () =>
        {
            while (!harness.Trainer.State.Paused)
            {
                await Task.Delay(5);
            }
            wrong = harness.Commands.Submit(new ChooseBranchCommand(7), CommandSource.Human);
            picked = harness.Commands.Submit(new ChooseBranchCommand(2), CommandSource.Human);
        });
        harness.Trainer.RunUntil(60, CancellationToken.None);
        await person;

        BranchChoiceAwaitedEvent awaited = Assert.Single(harness.Events.OfType<BranchChoiceAwaitedEvent>());
        Assert.Equal([0, 1, 2], awaited.Candidates.Select(c => c.Branch));
        Assert.Contains("branch 7 is not one of the exploration's last round: 0, 1, 2", wrong!.Reason,
            StringComparison.Ordinal);
        Assert.Equal((CommandStatus.Succeeded, CommandStatus.Succeeded), (picked!.Status, explore.Status));
        ExplorationFinishedEvent finished = Assert.Single(harness.Events.OfType<ExplorationFinishedEvent>());
        Assert.Equal((2, "chosen by a person"), (finished.ChosenBranch, finished.Reason));
        Assert.Equal((2, 60L), (harness.Trainer.State.Branch, harness.Trainer.State.Step));
        Assert.False(harness.Trainer.State.Paused);
        // The person's branch continues from where it ended, as the run at x2 from step 20 would have.
        using var plain = new TrainerHarness(o => o.Steps = 80);
        plain.Trainer.Begin();
        plain.Trainer.RunUntil(20, CancellationToken.None);
        plain.Apply(UpdateOptimizerCommand.ScaleLearningRate(2));
        plain.Trainer.RunUntil(60, CancellationToken.None);
        Assert.Equal(plain.Losses(0, 20, 60), harness.Losses(2, 20, 60));
    }
}
