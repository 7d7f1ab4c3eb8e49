using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Policies;

namespace AgentTrainer.Core.Summaries;

/// <summary>What the agent is shown at a decision, as data (the rules model reads this) and, rendered
/// through prompts/summary.md, as text (language models read that).</summary>
public sealed record TrainingSummary
{
    public required long Step { get; init; }
    public required long TotalSteps { get; init; }
    public required int Branch { get; init; }
    public required double LearningRate { get; init; }
    public required double BaseLearningRate { get; init; }

    /// <summary>scheduled, non_finite_loss, loss_spike or grad_norm_explosion.</summary>
    public required string Trigger { get; init; }

    /// <summary>Downsampled series, denser toward the present: (step, mean value over its bucket).</summary>
    public required IReadOnlyList<SeriesPoint> TrainLoss { get; init; }
    public required IReadOnlyList<SeriesPoint> LearningRates { get; init; }
    public required IReadOnlyList<SeriesPoint> GradNorms { get; init; }
    public required IReadOnlyList<SeriesPoint> ValLoss { get; init; }

    public required SummarySignals Signals { get; init; }
    public required IReadOnlyList<InterventionOutcome> RecentInterventions { get; init; }
    public required IReadOnlyList<LayerHealth> Layers { get; init; }
    public required IReadOnlyList<CheckpointSummary> Checkpoints { get; init; }
    public required PolicyLimits Limits { get; init; }

    /// <summary>What the run may still spend.</summary>
    public BudgetSummary? Budget { get; init; }

    /// <summary>Proposals a person rejected, with their comment: the same is barred for the policy's cooldown.</summary>
    public IReadOnlyList<Rejection> Rejections { get; init; } = [];
}

/// <summary>A proposal a person rejected: what (action and checkpoint or layer), based on which step, who, and why.</summary>
public sealed record Rejection(InterventionAction Action, string? Target, long Step, string? Reviewer, string? Comment)
{
    public string Describe() => InterventionActions.Describe(Action, Target);
}

/// <summary>The run's budget as spent so far: steps trained in all (rollbacks' discarded steps count), the
/// most it may train, the steps left (fewer when a deadline is nearer at the current pace), the deadline.</summary>
public sealed record BudgetSummary(long TrainedSteps, long MaxTrainedSteps, long StepsLeft, DateTimeOffset? Deadline);

public sealed record SeriesPoint(long Step, double Value);

/// <summary>Computed signals. Trends are relative changes of the mean loss per 100 steps (negative:
/// improving); volatility is the spread of step losses around their trend, relative to the mean.</summary>
public sealed record SummarySignals
{
    public required double RecentLoss { get; init; }
    public required double BestRecentLoss { get; init; }
    public required double ShortTrend { get; init; }
    public required double LongTrend { get; init; }
    public required double Volatility { get; init; }

    /// <summary>Volatility of the 50 steps before the last 50: the run's ordinary noise, before whatever
    /// is happening now.</summary>
    public required double PriorVolatility { get; init; }

    public required int Spikes { get; init; }
    public required int NonFiniteSteps { get; init; }

    /// <summary>Batches the trainer's loss guard passed over in the last 100 steps (not trained on).</summary>
    public int SkippedBatches { get; init; }
    public required double RecentGradNorm { get; init; }
    public required double MedianGradNorm { get; init; }
    public double? BestValLoss { get; init; }
    public long? BestValStep { get; init; }
    public long? StepsSinceIntervention { get; init; }

    /// <summary>The latest rise of the lr that no schedule, command or new branch explains, if any.</summary>
    public LearningRateJump? UnexplainedLrJump { get; init; }

    /// <summary>The largest recent step up of the loss's level, when it is well beyond its noise.</summary>
    public LossJump? LossJump { get; init; }
}

/// <summary>An applied intervention and its measured effect: mean train loss over the steps before
/// and after it (null until enough steps have passed).</summary>
/// <param name="Step">the step it took effect at (for a rollback: the checkpoint's)</param>
/// <param name="Target">the checkpoint a rollback named or the layer a reset named</param>
/// <param name="DecidedAtStep">the step the proposal was based on (for a rollback: where the trouble was seen)</param>
public sealed record InterventionOutcome(
    long Step, InterventionAction Action, string? Target, string Source, double LossBefore, double? LossAfter, long? DecidedAtStep = null)
{
    public string Describe() => InterventionActions.Describe(Action, Target);
}

/// <summary>A checkpoint the agent may roll back to. <paramref name="ValLoss"/>: measured at its step, if it
/// was; <paramref name="LastValLoss"/>: the latest validation loss of its branch at or before its step.</summary>
public sealed record CheckpointSummary(string Id, long Step, int Branch, double? ValLoss, double? LastValLoss = null);

/// <summary>What the policy in force allows now, so the agent knows its room.</summary>
public sealed record PolicyLimits
{
    public required string Policy { get; init; }
    public required double MinLearningRate { get; init; }
    public required double MaxLearningRate { get; init; }
    public required long CooldownRemaining { get; init; }
    public required int RollbacksLeft { get; init; }
    public required long MaxRollbackDepth { get; init; }
    public required IReadOnlyList<string> ResettableLayers { get; init; }
    public required IReadOnlyList<string> NeedApproval { get; init; }

    /// <summary>Rollbacks to the run's start still allowed.</summary>
    public int StartOversLeft { get; init; } = int.MaxValue;

    /// <summary>The run's best validation loss, and how much worse a rollback's checkpoint may be (a fraction).</summary>
    public double? BestValLoss { get; init; }
    public double MaxRegression { get; init; } = double.PositiveInfinity;

    /// <summary>Steps the run's budget still allows.</summary>
    public long BudgetStepsLeft { get; init; } = long.MaxValue;

    /// <summary>Explorations (explore_learning_rate) still allowed; 0 when the policy offers none.</summary>
    public int ExplorationsLeft { get; init; }
}
