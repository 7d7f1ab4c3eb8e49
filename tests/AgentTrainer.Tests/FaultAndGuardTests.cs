using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;

namespace AgentTrainer.Tests;

/// <summary>Each injected fault must really destabilise training: compared with the same run
/// without it (same seed, same data), at the same steps.</summary>
public class FaultAndGuardTests
{
    private const int FaultStep = 100;

    private static TrainerHarness Train(FaultOptions? fault, int steps = 160)
    {
        var harness = new TrainerHarness(o =>
        {
            o.Steps = steps;
            o.Schedule = ScheduleNames.Constant;
            o.LearningRate = 3e-3;
            if (fault is not null)
            {
                o.Faults.Add(fault);
            }
        });
        harness.Trainer.Run(CancellationToken.None);
        return harness;
    }

    [Fact]
    public void LrSpike_MakesLossWorseThanTheHealthyRun()
    {
        using TrainerHarness healthy = Train(null);
        using TrainerHarness faulty = Train(new FaultOptions { Kind = FaultKinds.LrSpike, Step = FaultStep, Factor = 50 });
        Assert.Equal(healthy.Losses(0, 0, FaultStep), faulty.Losses(0, 0, FaultStep));
        double healthyAfter = healthy.MeanLoss(0, FaultStep + 5, FaultStep + 40);
        double faultyAfter = faulty.MeanLoss(0, FaultStep + 5, FaultStep + 40);
        Assert.True(faultyAfter > healthyAfter * 1.5, $"after the spike: {faultyAfter:F3} vs healthy {healthyAfter:F3}");
        Assert.Equal(0.15, faulty.Steps.Single(s => s.Step == FaultStep).LearningRate, 9);
        Assert.Contains(faulty.Events, e => e is FaultInjectedEvent { Kind: FaultKinds.LrSpike, Step: FaultStep });
    }

    [Fact]
    public void CorruptBatches_SpikeTheLoss_ForExactlyTheirCount_AndLeaveDamage()
    {
        using TrainerHarness healthy = Train(null);
        using TrainerHarness faulty = Train(new FaultOptions { Kind = FaultKinds.CorruptBatches, Step = FaultStep, Count = 10 });
        double[] burst = faulty.Losses(0, FaultStep, FaultStep + 10);
        double[] before = healthy.Losses(0, FaultStep, FaultStep + 10);
        Assert.All(burst.Zip(before), pair => Assert.True(pair.First > pair.Second * 3, $"{pair.First:F3} vs {pair.Second:F3}"));
        Assert.True(faulty.MeanLoss(0, FaultStep + 10, FaultStep + 20) > healthy.MeanLoss(0, FaultStep + 10, FaultStep + 20) * 1.2);
    }

    [Fact]
    public void LoadingACheckpoint_MidBurst_EndsTheBurst_SoTheReplayIsClean()
    {
        using TrainerHarness healthy = Train(null);
        using var faulty = new TrainerHarness(o =>
        {
            o.Steps = 160;
            o.Schedule = ScheduleNames.Constant;
            o.LearningRate = 3e-3;
            o.Faults.Add(new FaultOptions { Kind = FaultKinds.CorruptBatches, Step = FaultStep, Count = 30 });
        });
        faulty.Trainer.Begin();
        faulty.Trainer.RunUntil(FaultStep + 5, CancellationToken.None); // 5 of the 30 corrupt batches taken
        Assert.True(faulty.MeanLoss(0, FaultStep, FaultStep + 5) > 3 * healthy.MeanLoss(0, FaultStep, FaultStep + 5));

        faulty.Apply(new Core.Commands.LoadCheckpointCommand("ckpt-000100-b0"));
        faulty.Trainer.RunUntil(160, CancellationToken.None);

        // The rolled-back branch trains on clean batches: step for step the healthy run's losses.
        Assert.Equal(healthy.Losses(0, FaultStep, 160), faulty.Losses(1, FaultStep, 160));
    }

    [Theory]
    [InlineData(FaultKinds.ZeroLayer, 0.0)]
    [InlineData(FaultKinds.ScaleLayer, 30.0)]
    public void LayerFaults_BreakTheLayer(string kind, double factor)
    {
        using TrainerHarness healthy = Train(null);
        using TrainerHarness faulty = Train(new FaultOptions { Kind = kind, Step = FaultStep, Layer = "hidden1", Factor = factor });
        double healthyAfter = healthy.MeanLoss(0, FaultStep, FaultStep + 10);
        double faultyAfter = faulty.MeanLoss(0, FaultStep, FaultStep + 10);
        Assert.True(faultyAfter > healthyAfter * 1.5, $"{kind}: {faultyAfter:F3} vs healthy {healthyAfter:F3}");
    }

    [Fact]
    public void ZeroedLayer_UnderPlainSgd_StaysDead_AndLayerHealthShowsIt()
    {
        // ReLU passes no gradient at zero, and plain SGD has no momentum to move the weights: dead for good.
        using var harness = new TrainerHarness(o =>
        {
            o.Steps = 120;
            o.Optimizer = OptimizerNames.Sgd;
            o.Momentum = 0;
            o.LearningRate = 0.05;
            o.Faults.Add(new FaultOptions { Kind = FaultKinds.ZeroLayer, Step = FaultStep, Layer = "hidden1" });
        });
        harness.Trainer.Run(CancellationToken.None);
        Core.Metrics.EvaluationMetrics last = harness.Evaluations.Last();
        Assert.Equal(120, last.Step);
        Assert.Equal(1.0, last.Layers.Single(l => l.Name == "hidden1").DeadFraction);
        Assert.Equal(0.0, last.Layers.Single(l => l.Name == "hidden1").WeightNorm);
        Assert.True(harness.Evaluations.Single(e => e.Step == 100).Layers.Single(l => l.Name == "hidden1").DeadFraction < 0.5);
    }

    [Fact]
    public void NonFiniteLoss_IsReportedAndNotTrainedThrough_ThenTheRunStopsAsDiverged()
    {
        using var harness = new TrainerHarness(o =>
        {
            o.Steps = 200;
            o.MaxConsecutiveNonFinite = 5;
            o.Faults.Add(new FaultOptions { Kind = FaultKinds.ScaleLayer, Step = 30, Layer = "output", Factor = 1e38 });
        });
        Training.Trainer.TrainerResult result = harness.Trainer.Run(CancellationToken.None);
        Assert.Equal(RunOutcomes.Diverged, result.Outcome);
        Assert.Equal(35, result.Step);
        Core.Metrics.StepMetrics[] nonFinite = [.. harness.Steps.Where(s => s.NonFinite)];
        Assert.Equal([30L, 31, 32, 33, 34], nonFinite.Select(s => s.Step));
        Assert.All(nonFinite, s => Assert.False(double.IsFinite(s.Loss) && double.IsFinite(s.GradNorm)));
        Assert.Equal(5, harness.Events.OfType<NonFiniteLossEvent>().Count());
        // Skipped updates leave the weights finite: a rollback can still repair the run.
        Assert.All(harness.Run.Model.parameters(), p => Assert.True(TorchSharp.torch.isfinite(p).all().item<bool>()));
    }

    [Fact]
    public void TheSameSeed_GivesTheSameRun_AndAnotherSeedDoesNot()
    {
        using TrainerHarness first = Train(null, steps: 40);
        using TrainerHarness second = Train(null, steps: 40);
        Assert.Equal(first.Losses(0, 0, 40), second.Losses(0, 0, 40));
        using var other = new TrainerHarness(o => { o.Steps = 40; o.Seed = 4; });
        other.Trainer.Run(CancellationToken.None);
        Assert.NotEqual(first.Losses(0, 0, 40), other.Losses(0, 0, 40));
    }
}
