using AgentTrainer.Core.Options;

namespace AgentTrainer.Tests;

/// <summary>The real tasks on their real data sets (Debian's packages), kept small enough for CI.</summary>
public class TaskTests
{
    [Fact]
    public void CharLm_OnFortunes_LearnsWithinAFewDozenSteps()
    {
        using var harness = new TrainerHarness(o =>
        {
            o.Task = TaskNames.CharLm;
            o.Steps = 40;
            o.LearningRate = 3e-3;
            o.BatchSize = 16;
            o.EvalEvery = 40;
            o.EvalBatches = 4;
            o.CharLm = new CharLmOptions { ContextLength = 32, EmbeddingSize = 32, Layers = 1, Heads = 2 };
        });
        harness.Trainer.Run(CancellationToken.None);
        Core.Metrics.EvaluationMetrics first = harness.Evaluations.First(), last = harness.Evaluations.Last();
        Assert.True(last.ValLoss < first.ValLoss - 0.5, $"val loss {first.ValLoss:F3} -> {last.ValLoss:F3}");
        Assert.Equal(last.ValLoss / Math.Log(2), last.BitsPerChar!.Value, 9);
        Assert.Null(last.Accuracy);
        Assert.Equal(["token_embedding", "position_embedding", "final_norm", "head", "block0"], last.Layers.Select(l => l.Name));
        Assert.All(harness.Steps, s => Assert.Equal(16 * 32 / (s.StepMs / 1000), s.SamplesPerSecond, 6));
    }

    [Fact]
    public void FashionMnist_Cnn_TrainsAndReportsDeadUnitsPerConvolution()
    {
        using var harness = new TrainerHarness(o =>
        {
            o.Task = TaskNames.FashionMnist;
            o.Model = ModelNames.Cnn;
            o.Steps = 30;
            o.EvalEvery = 30;
            o.EvalBatches = 4;
            o.LearningRate = 2e-3;
        });
        harness.Trainer.Run(CancellationToken.None);
        Core.Metrics.EvaluationMetrics last = harness.Evaluations.Last();
        Assert.True(last.Accuracy > 0.5, $"accuracy {last.Accuracy}");
        Assert.Equal(["conv1", "conv2", "fc1", "output"], last.Layers.Select(l => l.Name));
        Assert.All(last.Layers.Take(3), l => Assert.InRange(l.DeadFraction!.Value, 0, 1));
        Assert.Equal(30, last.Step);
    }
}
