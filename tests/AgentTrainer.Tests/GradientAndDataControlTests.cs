using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Training.Checkpoints;
using AgentTrainer.Training.Trainer;
using TorchSharp;
using static TorchSharp.torch;

namespace AgentTrainer.Tests;

/// <summary>The data- and gradient-level controls on a real synthetic run: skip_data, freeze / unfreeze, a layer's lr
/// multiplier, clipping at a percentile of recent gradient norms, and the two step guards. Each is applied at a step
/// boundary, held in checkpoints, and replayed to the same bits after a rollback.</summary>
public class GradientAndDataControlTests
{
    public static TheoryData<string> Controls => ["skip_data", "freeze", "unfreeze", "layer_lr", "clip_percentile"];

    private static TrainerCommand[] CommandsFor(string control) => control switch
    {
        "skip_data" => [new SkipDataCommand(7)],
        "freeze" => [new ModelLayerOperationCommand("hidden1", LayerOperations.Freeze)],
        "unfreeze" =>
        [
            new ModelLayerOperationCommand("hidden1", LayerOperations.Freeze),
            new ModelLayerOperationCommand("hidden1", LayerOperations.Unfreeze),
        ],
        "layer_lr" => [new ModelLayerOperationCommand("hidden2", LayerOperations.ScaleLearningRate) { Factor = 0.25 }],
        _ => [new UpdateOptimizerCommand { GradClipPercentile = 50 }],
    };

    [Theory]
    [MemberData(nameof(Controls))]
    public void EachControl_IsAppliedAtABoundary_HeldInACheckpoint_AndReplayedBitForBit(string control)
    {
        using var harness = new TrainerHarness(o => o.Steps = 80);
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(20, CancellationToken.None);
        foreach (TrainerCommand command in CommandsFor(control))
        {
            CommandRecord record = harness.Apply(command);
            Assert.True(record.Status == CommandStatus.Succeeded, $"{command.Kind}: {record.Reason}");
            Assert.Equal(20, record.History[^1].Step);
        }
        harness.Trainer.RunUntil(30, CancellationToken.None);
        harness.Apply(new SaveCheckpointCommand { ToDisk = false });
        harness.Trainer.RunUntil(60, CancellationToken.None);

        TrainerPosition held = CheckpointSerializer.ReadPosition(harness.Trainer.Checkpoints.Load("ckpt-000030-b0"));
        switch (control)
        {
            case "skip_data": Assert.Equal(37, held.DataPosition); break;
            case "freeze": Assert.Equal(["hidden1"], held.Layers!.Frozen); break;
            case "unfreeze": Assert.Null(held.Layers); break;
            case "layer_lr": Assert.Equal(0.25, held.Layers!.LearningRateFactors["hidden2"]); break;
            default: Assert.Equal(Percentile(harness, to: 20, 50), held.GradClip); break;
        }

        harness.Apply(new LoadCheckpointCommand("ckpt-000030-b0"));
        harness.Trainer.RunUntil(60, CancellationToken.None);
        Assert.Equal(harness.Losses(branch: 0, 30, 60), harness.Losses(branch: 1, 30, 60));
    }

    [Fact]
    public void AFrozenLayer_DoesNotMove_AndARollbackToBeforeTheFreeze_TrainsItAgain()
    {
        using var harness = new TrainerHarness(o => o.Steps = 60);
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(10, CancellationToken.None);
        harness.Apply(new SaveCheckpointCommand { ToDisk = false });
        harness.Apply(new ModelLayerOperationCommand("hidden1", LayerOperations.Freeze));
        using Tensor frozen = Weight(harness, "hidden1");
        using Tensor other = Weight(harness, "output");
        harness.Trainer.RunUntil(30, CancellationToken.None);
        Assert.True(Same(frozen, Weight(harness, "hidden1")), "a frozen layer moved");
        Assert.False(Same(other, Weight(harness, "output")), "the layers left unfrozen did not train");

        harness.Apply(new LoadCheckpointCommand("ckpt-000010-b0"));
        using Tensor restored = Weight(harness, "hidden1");
        harness.Trainer.RunUntil(30, CancellationToken.None);
        Assert.False(Same(restored, Weight(harness, "hidden1")), "the freeze outlived a rollback to before it");
    }

    [Fact]
    public void ALayerLrMultiplierOfOne_TrainsToTheSameBitsAsNone()
    {
        using var plain = new TrainerHarness(o => o.Steps = 40);
        plain.Trainer.Begin();
        plain.Trainer.RunUntil(40, CancellationToken.None);
        using var scaled = new TrainerHarness(o => o.Steps = 40);
        scaled.Trainer.Begin();
        scaled.Apply(new ModelLayerOperationCommand("hidden2", LayerOperations.ScaleLearningRate) { Factor = 3 });
        scaled.Trainer.RunUntil(10, CancellationToken.None);
        scaled.Apply(new ModelLayerOperationCommand("hidden2", LayerOperations.ScaleLearningRate) { Factor = 1 });
        scaled.Trainer.RunUntil(40, CancellationToken.None);

        Assert.Equal(plain.Losses(0, 0, 1), scaled.Losses(0, 0, 1));
        Assert.NotEqual(plain.Losses(0, 1, 40), scaled.Losses(0, 1, 40)); // ×3 for ten steps changed the run
    }

    [Fact]
    public void TheLossGuard_PassesOverACorruptBurst_CountsIt_AndReplaysItsMemoryFromACheckpoint()
    {
        using var harness = new TrainerHarness(o =>
        {
            o.Steps = 120;
            o.Guards.SkipBatchLossFactor = 3;
            o.Faults = [new FaultOptions { Kind = FaultKinds.CorruptBatches, Step = 60, Count = 5 }];
        });
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(80, CancellationToken.None);
        harness.Apply(new SaveCheckpointCommand { ToDisk = false });
        harness.Trainer.RunUntil(110, CancellationToken.None);

        long[] skipped = [.. harness.Steps.Where(s => s.Skipped == true).Select(s => s.Step)];
        Assert.Equal([60, 61, 62, 63, 64], skipped);
        BatchSkippedEvent last = harness.Events.OfType<BatchSkippedEvent>().Last();
        Assert.Equal(5, last.Skipped);
        Assert.True(last.Loss >= 3 * last.LossAverage, $"{last.Loss} against average {last.LossAverage}");
        Assert.All(harness.Steps.Where(s => s.Skipped != true), s => Assert.False(double.IsNaN(s.GradNorm)));
        Assert.Empty(harness.Events.OfType<NonFiniteLossEvent>());

        TrainerPosition held = CheckpointSerializer.ReadPosition(harness.Trainer.Checkpoints.Load("ckpt-000080-b0"));
        Assert.Equal(5, held.Guards!.Skipped);
        harness.Apply(new LoadCheckpointCommand("ckpt-000080-b0"));
        harness.Trainer.RunUntil(110, CancellationToken.None);
        Assert.Equal(harness.Losses(0, 80, 110), harness.Losses(1, 80, 110));
    }

    [Fact]
    public void TheLossGuard_GivesWayAfterItsLimitInARow_SoALastingShiftCannotStarveTheRun()
    {
        using var harness = new TrainerHarness(o =>
        {
            o.Steps = 100;
            o.Guards.SkipBatchLossFactor = 3;
            o.Guards.SkipBatchMaxConsecutive = 4;
            o.Faults = [new FaultOptions { Kind = FaultKinds.CorruptBatches, Step = 60, Count = 10 }];
        });
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(80, CancellationToken.None);
        long[] skipped = [.. harness.Steps.Where(s => s.Skipped == true).Select(s => s.Step)];
        Assert.Equal([60, 61, 62, 63], skipped[..4]);
        Assert.DoesNotContain(64L, skipped); // the fifth in a row was trained on
    }

    [Fact]
    public void AdaptiveClipping_SetsTheThresholdFromRecentNorms_EveryStep_AndReplaysBitForBit()
    {
        using var harness = new TrainerHarness(o =>
        {
            o.Steps = 80;
            o.Guards.AdaptiveGradClipPercentile = 90;
            o.Guards.GradNormWindow = 30;
        });
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(19, CancellationToken.None);
        Assert.Equal(harness.Options.GradClip, harness.Trainer.GradClip); // 19 norms: too few yet
        harness.Trainer.RunUntil(40, CancellationToken.None);
        Assert.Equal(Percentile(harness, to: 40, 90, window: 30), harness.Trainer.GradClip);
        harness.Apply(new SaveCheckpointCommand { ToDisk = false });
        harness.Trainer.RunUntil(70, CancellationToken.None);
        harness.Apply(new LoadCheckpointCommand("ckpt-000040-b0"));
        Assert.Equal(Percentile(harness, to: 40, 90, window: 30), harness.Trainer.GradClip);
        harness.Trainer.RunUntil(70, CancellationToken.None);
        Assert.Equal(harness.Losses(0, 40, 70), harness.Losses(1, 40, 70));
    }

    public static TheoryData<string, string> BadControls => new()
    {
        { "unknown layer", "the model has no layer 'hidden9'" },
        { "freeze unknown layer", "the model has no layer 'nope'" },
        { "percentile with one norm", "1 gradient norms measured on this lineage yet; a percentile needs at least 2" },
    };

    [Theory]
    [MemberData(nameof(BadControls))]
    public void AControlTheRunCannotTake_FailsWithItsReason_AndChangesNothing(string bad, string reason)
    {
        using var harness = new TrainerHarness(o => o.Steps = 40);
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(1, CancellationToken.None);
        TrainerCommand command = bad switch
        {
            "unknown layer" => new ModelLayerOperationCommand("hidden9", LayerOperations.ScaleLearningRate) { Factor = 2 },
            "freeze unknown layer" => new ModelLayerOperationCommand("nope", LayerOperations.Freeze),
            _ => new UpdateOptimizerCommand { GradClipPercentile = 50, LearningRate = 0.5 },
        };
        CommandRecord record = harness.Apply(command);
        Assert.Equal(CommandStatus.Failed, record.Status);
        Assert.Contains(reason, record.Reason, StringComparison.Ordinal);
        harness.Apply(new SaveCheckpointCommand { ToDisk = false });
        TrainerPosition after = CheckpointSerializer.ReadPosition(harness.Trainer.Checkpoints.Load("ckpt-000001-b0"));
        Assert.Equal((harness.Options.LearningRate, harness.Options.GradClip, 1L, (LayerTrainingState?)null),
            (after.BaseLearningRate, after.GradClip, after.DataPosition, after.Layers));
    }

    private static Tensor Weight(TrainerHarness harness, string layer) =>
        harness.Run.Model.named_parameters().Single(p => p.name == $"{layer}.weight").parameter.detach().clone();

    private static bool Same(Tensor expected, Tensor actual)
    {
        using (actual)
        {
            return expected.data<float>().ToArray().SequenceEqual(actual.data<float>().ToArray());
        }
    }

    /// <summary>NumPy's default percentile of the gradient norms of steps [to - window, to).</summary>
    private static double Percentile(TrainerHarness harness, long to, double percentile, int window = 100)
    {
        double[] norms = [.. harness.Steps.Where(s => s.Step < to).OrderBy(s => s.Step).TakeLast(window)
            .Select(s => s.GradNorm).Order()];
        double rank = percentile / 100 * (norms.Length - 1);
        int below = (int)Math.Floor(rank);
        return norms[below] + ((rank - below) * (norms[Math.Min(below + 1, norms.Length - 1)] - norms[below]));
    }
}
