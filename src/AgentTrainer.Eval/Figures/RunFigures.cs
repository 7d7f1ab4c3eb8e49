namespace AgentTrainer.Eval.Figures;

/// <summary>Everything the report says about one run, read back from its records (run.json,
/// metrics.jsonl, events.jsonl). Losses are validation losses; "trained steps" count every optimizer
/// step taken, including those a rollback later discarded (the compute the run really spent).</summary>
public sealed record RunFigures
{
    public required string Scenario { get; init; }
    public required string Contestant { get; init; }
    public required int Seed { get; init; }
    public required string Status { get; init; }
    /// <summary>The validation loss of the model the run handed back (the best, when it restored it).</summary>
    public double? FinalValLoss { get; init; }
    public double? BestValLoss { get; init; }

    /// <summary>The best checkpoint's validation loss on the whole held-out set, measured at the end as the final
    /// model's is (absent from runs recorded before it was kept).</summary>
    public double? BestCheckpointValLoss { get; init; }

    /// <summary>Final minus best validation loss: what the run had reached and did not hand back. The best is its
    /// checkpoint's loss on the whole held-out set, as the final's (else the best periodic evaluation's).</summary>
    public double? ThrownAway => FinalValLoss is { } final && (BestCheckpointValLoss ?? BestValLoss) is { } best
        ? Math.Max(0, final - best)
        : null;

    /// <summary>Area under the validation-loss curve over trained steps, divided by the trained steps:
    /// the mean validation loss over the run's training time (lower: good sooner and for longer).</summary>
    public double? ValLossAuc { get; init; }
    public double? FinalAccuracy { get; init; }
    public double? FinalBitsPerChar { get; init; }

    /// <summary>Validation loss at the last evaluation before the fault struck.</summary>
    public double? PreFaultValLoss { get; init; }

    /// <summary>Trained steps from the fault until the validation loss was back within 10% of its
    /// pre-fault level; null when it never was (or the scenario has no fault: see <see cref="HasFault"/>).</summary>
    public long? RecoverySteps { get; init; }
    public required bool HasFault { get; init; }
    public required long TrainedSteps { get; init; }
    public required int LrHalved { get; init; }
    public required int LrDoubled { get; init; }
    public required int Rollbacks { get; init; }

    /// <summary>Rollbacks to the run's start (step 0): they throw the model away on purpose, and are counted apart.</summary>
    public required int StartOvers { get; init; }

    /// <summary>Rollbacks (not starts over) to a checkpoint whose validation loss was worse than the run's best at
    /// that moment by more than <see cref="RunFiguresReader.RegressionTolerance"/>: a model thrown away for a worse one.</summary>
    public required int RollbacksToWorse { get; init; }
    public required int LayerResets { get; init; }

    /// <summary>Explorations the run finished (explore_learning_rate), and of those the ones that moved the lr (the
    /// branch chosen was not the current lr's, in some round). One that kept the lr changed nothing: it is not an
    /// intervention, though its branches' steps count as trained.</summary>
    public int Explorations { get; init; }
    public int ExplorationsMoved { get; init; }

    /// <summary>skip_data commands an agent applied.</summary>
    public int DataSkips { get; init; }
    public required int Refused { get; init; }
    public required int SentToReview { get; init; }
    public required int Decisions { get; init; }
    public required int ModelCalls { get; init; }
    public required long InputTokens { get; init; }
    public required long OutputTokens { get; init; }
    public double? MeanLatencyMs { get; init; }
    public double? MaxLatencyMs { get; init; }
    public required int Fallbacks { get; init; }
    public required double WallSeconds { get; init; }
    public required string Folder { get; init; }

    /// <summary>Applied interventions of every kind (keep is a decision, not an intervention; an exploration that kept
    /// the lr changed nothing).</summary>
    public int Interventions => LrHalved + LrDoubled + Rollbacks + LayerResets + ExplorationsMoved + DataSkips;

    public double InterventionsPer1000Steps => TrainedSteps == 0 ? 0 : Interventions * 1000.0 / TrainedSteps;
}

/// <summary>A run's validation curve against trained steps, with where it was changed: for plots.</summary>
public sealed record RunCurve(IReadOnlyList<(long TrainedStep, double ValLoss)> Points, IReadOnlyList<(long TrainedStep, string Kind)> Interventions, long? FaultTrainedStep);
