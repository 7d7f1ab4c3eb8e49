using System.Diagnostics;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Records;
using TorchSharp;

namespace AgentTrainer.Tests;

public class CommandTests
{
    [Fact]
    public void UpdateOptimizer_ScalesOrSetsTheLearningRate_WhichTheNextStepUses()
    {
        using var harness = new TrainerHarness(o => o.Schedule = "constant");
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(5, CancellationToken.None);
        CommandRecord halve = harness.Apply(UpdateOptimizerCommand.ScaleLearningRate(0.5));
        Assert.Equal("lr 0.001 -> 0.0005", halve.Reason);
        harness.Trainer.RunUntil(6, CancellationToken.None);
        Assert.Equal(5e-4, harness.Steps.Single(s => s.Step == 5).LearningRate, 12);

        CommandRecord set = harness.Apply(new UpdateOptimizerCommand { LearningRate = 2e-2, WeightDecay = 0, GradClip = 0.5 });
        Assert.Equal("lr 0.0005 -> 0.02; weight_decay 0.01 -> 0; grad_clip 1 -> 0.5", set.Reason);
        harness.Trainer.RunUntil(7, CancellationToken.None);
        Assert.Equal(2e-2, harness.Steps.Single(s => s.Step == 6).LearningRate, 12);
    }

    [Fact]
    public void CommandsQueuedTogether_AreAppliedInOrder_AtOneStepBoundary()
    {
        using var harness = new TrainerHarness(o => o.Schedule = "constant");
        harness.Trainer.Begin();
        CommandRecord first = harness.Commands.Submit(UpdateOptimizerCommand.ScaleLearningRate(4), CommandSource.Human);
        CommandRecord second = harness.Commands.Submit(new UpdateOptimizerCommand { LearningRate = 1e-4 }, CommandSource.Api);
        harness.Trainer.RunUntil(3, CancellationToken.None);
        Assert.Equal(0, first.History[^1].Step);
        Assert.Equal(0, second.History[^1].Step);
        Assert.True(first.History[^1].At <= second.History[^1].At);
        Assert.Equal(1e-4, harness.Trainer.State.BaseLearningRate, 12); // the later command wins
        Assert.All(harness.Steps, s => Assert.Equal(1e-4, s.LearningRate, 12));
        var succeeded = harness.Events.OfType<CommandEvent>().Where(e => e.Status == CommandStatus.Succeeded).Select(e => e.Id).ToList();
        Assert.Equal([first.Id, second.Id], succeeded);
    }

    [Fact]
    public void ResetLayer_ReinitialisesItAndClearsItsOptimizerState_AndLeavesOtherLayersAlone()
    {
        using var harness = new TrainerHarness();
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(30, CancellationToken.None);
        torch.nn.Module model = harness.Run.Model;
        float[] hiddenBefore = model.named_parameters().Single(p => p.name == "hidden1.weight").parameter.data<float>().ToArray();
        float[] outputBefore = model.named_parameters().Single(p => p.name == "output.weight").parameter.data<float>().ToArray();

        CommandRecord reset = harness.Apply(new ModelLayerOperationCommand("hidden1"));
        Assert.Equal(CommandStatus.Succeeded, reset.Status);
        Assert.StartsWith("re-initialised hidden1 (544 parameters)", reset.Reason, StringComparison.Ordinal);
        Assert.NotEqual(hiddenBefore, model.named_parameters().Single(p => p.name == "hidden1.weight").parameter.data<float>().ToArray());
        Assert.Equal(outputBefore, model.named_parameters().Single(p => p.name == "output.weight").parameter.data<float>().ToArray());
    }

    [Fact]
    public void InvalidCommands_FailWithAReason_AndChangeNothing()
    {
        using var harness = new TrainerHarness();
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(10, CancellationToken.None);
        double lr = harness.Trainer.State.BaseLearningRate;

        CommandRecord badLayer = harness.Apply(new ModelLayerOperationCommand("encoder.7"));
        Assert.Equal(CommandStatus.Failed, badLayer.Status);
        Assert.Equal("the model has no layer 'encoder.7'; layers: hidden1, hidden2, output.", badLayer.Reason);

        CommandRecord badLr = harness.Commands.Submit(new UpdateOptimizerCommand { LearningRate = -1 }, CommandSource.Agent);
        Assert.Equal(CommandStatus.Failed, badLr.Status);
        Assert.Equal("learning_rate must be a number above 0 and at most 1000; got -1.", badLr.Reason);

        Assert.Equal(lr, harness.Trainer.State.BaseLearningRate);
        Assert.Equal(10, harness.Trainer.State.Step);
        Assert.Equal(1, harness.Trainer.Branches.Count);
    }

    [Fact]
    public void Evaluate_ReportsValidationFiguresAndLayerHealth()
    {
        using var harness = new TrainerHarness();
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(20, CancellationToken.None);
        CommandRecord evaluate = harness.Apply(new EvaluateCommand());
        Assert.Matches(@"^val_loss \d+\.\d{4}, accuracy \d\.\d{4}$", evaluate.Reason);
        Core.Metrics.EvaluationMetrics metrics = harness.Evaluations.Last();
        Assert.Equal(20, metrics.Step);
        Assert.Equal(["hidden1", "hidden2", "output"], metrics.Layers.Select(l => l.Name));
        Assert.All(metrics.Layers, l => Assert.True(l.WeightNorm > 0 && l.GradNorm > 0));
        Assert.NotNull(metrics.Layers[0].DeadFraction);
        Assert.Null(metrics.Layers[2].DeadFraction); // no ReLU after the output layer
    }

    [Fact]
    public async Task Pause_HoldsTheTrainerWithoutBurningCpu_UntilResume()
    {
        using var harness = new TrainerHarness(o => o.Steps = 100_000);
        harness.Trainer.Begin();
        harness.Commands.Submit(new PauseCommand(), CommandSource.Human);
        var training = new TaskCompletionSource<string>();
        var thread = new Thread(() => training.SetResult(harness.Trainer.RunUntil(50, CancellationToken.None))) { Name = "paused-trainer" };
        thread.Start();
        await WaitUntil(() => harness.Trainer.State.Paused);
        long pausedAt = harness.Trainer.State.Step;
        await Task.Delay(200);
        double cpuBefore = ThreadCpu.Milliseconds("paused-trainer");
        await Task.Delay(1000);
        double cpuUsed = ThreadCpu.Milliseconds("paused-trainer") - cpuBefore;
        Assert.Equal(pausedAt, harness.Trainer.State.Step);
        // A spinning wait would use the whole second of CPU; a blocked thread uses none.
        Assert.True(cpuUsed <= 20, $"the paused training thread used {cpuUsed} ms of CPU in 1 s");

        harness.Commands.Submit(new ResumeCommand(), CommandSource.Human);
        Assert.Equal(RunOutcomes.Completed, await training.Task.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(50, harness.Trainer.State.Step);
    }

    [Fact]
    public async Task Stop_WhilePaused_EndsTheRunWithACheckpointOnDisk()
    {
        using var harness = new TrainerHarness(o => o.Steps = 100_000);
        harness.Commands.Submit(new PauseCommand(), CommandSource.Human);
        Task<Training.Trainer.TrainerResult> training = Task.Factory.StartNew(() => harness.Trainer.Run(CancellationToken.None), TaskCreationOptions.LongRunning);
        await WaitUntil(() => harness.Trainer.State.Paused);
        harness.Commands.Submit(new StopCommand(), CommandSource.Human);
        Training.Trainer.TrainerResult result = await training.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(RunOutcomes.Stopped, result.Outcome);
        Assert.True(File.Exists(Path.Combine(harness.Trainer.Checkpoints.Folder, $"ckpt-{result.Step:D6}-b0.ckpt")));
    }

    [Fact]
    public async Task Cancellation_InterruptsTheRun_WhichStillCheckpoints()
    {
        using var harness = new TrainerHarness(o => o.Steps = 1_000_000);
        using var cancellation = new CancellationTokenSource();
        Task<Training.Trainer.TrainerResult> training = Task.Factory.StartNew(() => harness.Trainer.Run(cancellation.Token), TaskCreationOptions.LongRunning);
        await WaitUntil(() => harness.Trainer.State.Step > 20);
        await cancellation.CancelAsync();
        Training.Trainer.TrainerResult result = await training.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(RunOutcomes.Interrupted, result.Outcome);
        Assert.Contains(harness.Events, e => e is RunFinishedEvent { Outcome: RunOutcomes.Interrupted });
        Assert.NotNull(harness.Trainer.Checkpoints.Find($"ckpt-{result.Step:D6}-b0")?.Path);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var clock = Stopwatch.StartNew();
        while (!condition())
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "timed out waiting");
            await Task.Delay(10);
        }
    }
}
