using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Summaries;

namespace AgentTrainer.Tests;

/// <summary>How far and how straight training moves each layer's weights, as measured in a real run and
/// reported with every evaluation: the signal that tells an lr far too low from a good one.</summary>
public class WeightMovementTests
{
    private static EvaluationMetrics[] Train(double learningRate, int steps = 150)
    {
        using var harness = new TrainerHarness(o => (o.Schedule, o.LearningRate, o.Steps) = ("constant", learningRate, steps));
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(steps, CancellationToken.None);
        return [.. harness.Evaluations];
    }

    private static double Median(IEnumerable<double?> values) => SummaryBuilder.Median([.. values.OfType<double>()]);

    [Fact]
    public void AnLrFarTooLow_MovesTheWeightsInAStraightLine_AGoodLrDoesNot()
    {
        EvaluationMetrics[] low = Train(1e-5), good = Train(1e-2);
        Assert.All(low[0].Layers.Concat(good[0].Layers), l => Assert.Null(l.Straightness)); // nothing to compare with at step 0
        Assert.All(low[0].Layers, l => Assert.Null(l.WeightChange));

        double lowStraightness = Median(low[^1].Layers.Select(l => l.Straightness));
        double goodStraightness = Median(good[^1].Layers.Select(l => l.Straightness));
        Assert.True(lowStraightness > 0.9, $"lr 1e-5: {lowStraightness}");
        Assert.True(goodStraightness < 0.8, $"lr 1e-2: {goodStraightness}");
        Assert.All(low[^1].Layers.Zip(good[^1].Layers), pair => Assert.True(pair.First.WeightChange < pair.Second.WeightChange / 10,
            $"{pair.First.Name}: {pair.First.WeightChange} at 1e-5, {pair.Second.WeightChange} at 1e-2"));
    }

    [Fact]
    public void OnlyTrainingsOwnMovementIsMeasured_NotARollbackOrALayerReset()
    {
        using var harness = new TrainerHarness(o => o.Schedule = "constant");
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(60, CancellationToken.None);
        harness.Apply(new EvaluateCommand());
        Assert.All(harness.Evaluations.Last().Layers, l => Assert.True(l.WeightChange > 0 && l.Straightness is > 0 and <= 1, $"{l}"));

        // Rewritten weights start a new window: the next evaluation has nothing to compare with...
        harness.Apply(new ModelLayerOperationCommand("hidden1"));
        harness.Trainer.RunUntil(70, CancellationToken.None);
        harness.Apply(new EvaluateCommand());
        Assert.All(harness.Evaluations.Last().Layers, l => Assert.Null(l.WeightChange));
        // ...and the one after measures training again.
        harness.Trainer.RunUntil(90, CancellationToken.None);
        harness.Apply(new EvaluateCommand());
        Assert.All(harness.Evaluations.Last().Layers, l => Assert.NotNull(l.Straightness));

        harness.Apply(new LoadCheckpointCommand(harness.Trainer.Checkpoints.List()[0].Id));
        harness.Apply(new EvaluateCommand());
        Assert.All(harness.Evaluations.Last().Layers, l => Assert.Null(l.WeightChange));
    }
}
