using AgentTrainer.Agents.Providers;
using AgentTrainer.Core.Summaries;
using Microsoft.SemanticKernel;

namespace AgentTrainer.Tests;

/// <summary>The rules model's judgement on hand-made situations.</summary>
public class RulesModelTests
{
    private static readonly CheckpointSummary[] Checkpoints =
        [new("ckpt-000000-b0", 0, 0, 4.7), new("ckpt-000300-b0", 300, 0, 2.3), new("ckpt-000400-b0", 400, 0, 2.6)];

    private static (string Tool, string? Checkpoint, string Reason) Decide(TrainingSummary summary)
    {
        FunctionCallContent call = Assert.Single(RulesChatCompletionService.Decide(summary).Items.OfType<FunctionCallContent>());
        return (call.FunctionName, call.Arguments!.TryGetValue("checkpoint_id", out object? id) ? (string?)id : null, (string)call.Arguments["reason"]!);
    }

    private static TrainingSummary At(long step, SummarySignals signals, params InterventionOutcome[] interventions) =>
        Summaries.Healthy(step) with { Signals = signals, RecentInterventions = interventions, Checkpoints = Checkpoints };

    private static SummarySignals Signals(double recent, double best, double shortTrend, double longTrend, double volatility = 0.02, int nonFinite = 0) => new()
    {
        RecentLoss = recent, BestRecentLoss = best, ShortTrend = shortTrend, LongTrend = longTrend, Volatility = volatility, Spikes = 0,
        NonFiniteSteps = nonFinite, RecentGradNorm = 0.5, MedianGradNorm = 0.5,
    };

    [Fact]
    public void AHealthyDecline_IsKept()
    {
        Assert.Equal("keep_learning_rate", Decide(At(450, Signals(2.4, 2.41, -0.06, -0.07))).Tool);
    }

    [Fact]
    public void ALossWellAboveItsBest_RollsBackToTheBestCheckpoint()
    {
        (string tool, string? checkpoint, string reason) = Decide(At(450, Signals(2.9, 2.35, -0.05, 0.10)));
        Assert.Equal(("rollback_checkpoint", "ckpt-000300-b0"), (tool, checkpoint));
        Assert.Contains("1.234x its best recent level", reason, StringComparison.Ordinal);
    }

    [Fact]
    public void ANonFiniteLoss_RollsBack()
    {
        (string tool, string? checkpoint, _) = Decide(At(450, Signals(2.4, 2.4, 0, 0, nonFinite: 3)));
        Assert.Equal(("rollback_checkpoint", "ckpt-000300-b0"), (tool, checkpoint));
    }

    [Fact]
    public void ANoisyPlateau_IsHalved_AndWhenHalvingStopsHelping_TheRunStartsOver()
    {
        Assert.Equal("halve_learning_rate", Decide(At(450, Signals(2.6, 2.6, -0.01, -0.02))).Tool);
        (string tool, string? checkpoint, _) = Decide(At(450, Signals(2.6, 2.6, -0.01, -0.02),
            new InterventionOutcome(300, "halve_learning_rate", "agent", 2.65, 2.64),
            new InterventionOutcome(350, "halve_learning_rate", "agent", 2.64, 2.62)));
        Assert.Equal(("rollback_checkpoint", "ckpt-000000-b0"), (tool, checkpoint));
    }

    [Fact]
    public void APlateauLateInADecayedSchedule_IsExpected_AndKept()
    {
        TrainingSummary late = At(450, Signals(2.2, 2.2, -0.01, -0.02)) with { LearningRate = 1e-4, BaseLearningRate = 1e-3 };
        Assert.Equal("keep_learning_rate", Decide(late).Tool);
    }
}
