using AgentTrainer.Core.Commands;
namespace AgentTrainer.Core.Policies;

/// <summary>What may happen without a person (policies/*.yaml). Every limit is named by the rule
/// path used in decisions and errors (e.g. learning_rate.max).</summary>
public sealed record Policy
{
    public required string Name { get; init; }
    public required string Source { get; init; }
    public string Description { get; init; } = "";
    public double MinLearningRate { get; init; } = 1e-6;
    public double MaxLearningRate { get; init; } = 1.0;

    /// <summary>The most the lr may move (up or down, as a factor) within <see cref="ChangeWindowSteps"/>.</summary>
    public double MaxChangeFactor { get; init; } = 16;
    public long ChangeWindowSteps { get; init; } = 500;
    public long CooldownSteps { get; init; }
    public int MaxRollbacks { get; init; } = 5;
    public long MaxRollbackDepthSteps { get; init; } = long.MaxValue;

    /// <summary>A rollback may not go to a checkpoint whose validation loss is worse than the run's best by
    /// more than this fraction, unless the run is in trouble (a non-finite loss, or now worse than that
    /// checkpoint). Binds every agent: no model can hand back a worse model than it threw away.</summary>
    public double MaxRegression { get; init; } = 0.05;

    /// <summary>Rollbacks to the run's start (step 0) allowed per run: starting over throws the model away.</summary>
    public int MaxStartOvers { get; init; } = 1;
    public IReadOnlyList<string> ResettableLayers { get; init; } = ["*"];
    public IReadOnlyList<InterventionAction> ApprovalRequiredFor { get; init; } = [];
    public TimeSpan ApprovalTimeout { get; init; } = TimeSpan.FromHours(1);

    /// <summary>When the agent's next, different idea replaces a proposal waiting for a person
    /// (approval.supersede): only once the waiting one can no longer be applied as it stands (the default), or
    /// always.</summary>
    public string Supersede { get; init; } = SupersedeModes.WhenInvalid;

    /// <summary>Actions whose proposal holds (pauses) the run until a person has answered (approval.hold_run).</summary>
    public IReadOnlyList<InterventionAction> HoldRunFor { get; init; } = [];

    /// <summary>Trained steps a rejected proposal bars the same action on the same target (approval.rejection_cooldown_steps).</summary>
    public long RejectionCooldownSteps { get; init; } = 500;
    public long MaxStalenessSteps { get; init; } = 50;

    /// <summary>What to do on a NaN/Inf loss without asking the model: rollback, halve or none.</summary>
    public string NonFiniteGuard { get; init; } = GuardActions.Rollback;

    /// <summary>A step loss this many times the recent median triggers a decision at once.</summary>
    public double LossSpikeFactor { get; init; } = 3;

    /// <summary>A gradient norm this many times the recent median triggers a decision at once.</summary>
    public double GradNormExplosionFactor { get; init; } = 10;

    /// <summary>The explore_learning_rate tool and its limits; null (no explore: section): the agent is not offered
    /// it.</summary>
    public ExplorePolicy? Explore { get; init; }

    /// <summary>The skip_data tool and its limits; null (no skip_data: section): not offered.</summary>
    public SkipDataPolicy? SkipData { get; init; }

    /// <summary>The tools the agent is offered: the five always, and those whose section the policy has.</summary>
    public IReadOnlyList<InterventionAction> OfferedTools =>
    [
        .. InterventionActions.Always,
        .. Explore is null ? Array.Empty<InterventionAction>() : [InterventionAction.ExploreLearningRate],
        .. SkipData is null ? Array.Empty<InterventionAction>() : [InterventionAction.SkipData],
    ];
}

/// <summary>How the agent may pass over data (policy section skip_data:): the batches one skip passes over (after a
/// rollback past a loss spike, the data that caused it), and how many skips a run may have.</summary>
public sealed record SkipDataPolicy
{
    public long Batches { get; init; } = 200;
    public int MaxPerRun { get; init; } = 3;
}

/// <summary>How the agent may test the lr (policy section explore:): the factors each round tries around the lr, the
/// steps each branch trains, the rounds an exploration may take, and how many explorations a run may have.</summary>
public sealed record ExplorePolicy
{
    public IReadOnlyList<double> LearningRateFactors { get; init; } = [0.1, 0.3, 1, 3, 10];
    public long Steps { get; init; } = 50;

    /// <summary>Rounds one exploration may take while its best is the lowest or highest factor tried.</summary>
    public int MaxRounds { get; init; } = 3;
    public int MaxPerRun { get; init; } = 1;

    /// <summary>Who picks the branch after the last round: the best (default), or a person (the run pauses).</summary>
    public BranchChoice Choose { get; init; } = BranchChoice.Best;
}

/// <summary>approval.supersede: when a different proposal replaces one that waits for a person.</summary>
public static class SupersedeModes
{
    /// <summary>Only once the waiting one can no longer be applied as it stands (stale, its checkpoint gone, out of
    /// bounds): the run changed materially.</summary>
    public const string WhenInvalid = "when_invalid";
    public const string Always = "always";
    public static readonly string[] All = [WhenInvalid, Always];
}

public static class GuardActions
{
    public const string Rollback = "rollback";
    public const string Halve = "halve";
    public const string None = "none";
    public static readonly string[] All = [Rollback, Halve, None];
}
