using System.Globalization;
using System.Text.Json.Serialization;
using AgentTrainer.Core.Options;

namespace AgentTrainer.Core.Commands;

/// <summary>An intervention, applied by the trainer at the next step boundary. The JSON form carries
/// its kind as a discriminator (<c>{"kind":"update_optimizer","learning_rate_factor":0.5}</c>).</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "kind", UnknownDerivedTypeHandling = JsonUnknownDerivedTypeHandling.FailSerialization)]
[JsonDerivedType(typeof(UpdateOptimizerCommand), CommandKinds.UpdateOptimizer)]
[JsonDerivedType(typeof(SaveCheckpointCommand), CommandKinds.SaveCheckpoint)]
[JsonDerivedType(typeof(LoadCheckpointCommand), CommandKinds.LoadCheckpoint)]
[JsonDerivedType(typeof(ModelLayerOperationCommand), CommandKinds.ModelLayerOperation)]
[JsonDerivedType(typeof(SkipDataCommand), CommandKinds.SkipData)]
[JsonDerivedType(typeof(ExploreCommand), CommandKinds.Explore)]
[JsonDerivedType(typeof(ChooseBranchCommand), CommandKinds.ChooseBranch)]
[JsonDerivedType(typeof(UpdateDatasetCommand), CommandKinds.UpdateDataset)]
[JsonDerivedType(typeof(EvaluateCommand), CommandKinds.Evaluate)]
[JsonDerivedType(typeof(PauseCommand), CommandKinds.Pause)]
[JsonDerivedType(typeof(ResumeCommand), CommandKinds.Resume)]
[JsonDerivedType(typeof(StopCommand), CommandKinds.Stop)]
public abstract record TrainerCommand
{
    /// <summary>The wire name (update_optimizer, ...); in JSON it is the discriminator.</summary>
    [JsonIgnore]
    public string Kind => KindName;

    protected abstract string KindName { get; }

    /// <summary>What makes this command invalid whatever the trainer's state (null when valid).</summary>
    public virtual string? Validate() => null;

    /// <summary>What is wrong with a field that must lie in (0 or [0, up to <paramref name="maximum"/>], or
    /// null.</summary>
    protected static string? OutOfRange(
        string field, double? value, double maximum, bool zeroAllowed, string note = "")
    {
        if (value is not { } number
            || (double.IsFinite(number) && (zeroAllowed ? number >= 0 : number > 0) && number <= maximum))
        {
            return null;
        }
        string low = zeroAllowed ? "at least" : "above";
        return string.Create(CultureInfo.InvariantCulture,
            $"{field} must be a number {low} 0 and at most {maximum:G6}{note}; got {number:G6}.");
    }
}

/// <summary>Sets or scales the optimizer's settings in every parameter group. Absolute values and
/// factors may be mixed, but not for the same setting.</summary>
public sealed record UpdateOptimizerCommand : TrainerCommand
{
    public double? LearningRate { get; init; }
    public double? LearningRateFactor { get; init; }
    public double? WeightDecay { get; init; }
    public double? GradClip { get; init; }

    /// <summary>Sets the clipping threshold to this percentile (0 to 100) of the gradient norms of the last
    /// <see cref="TrainerGuardOptions.GradNormWindow"/> trained steps: adaptive clipping, measured once.</summary>
    public double? GradClipPercentile { get; init; }

    protected override string KindName => CommandKinds.UpdateOptimizer;

    public static UpdateOptimizerCommand ScaleLearningRate(double factor) => new() { LearningRateFactor = factor };

    public override string? Validate()
    {
        if (LearningRate is null && LearningRateFactor is null && WeightDecay is null && GradClip is null
            && GradClipPercentile is null)
        {
            return "update_optimizer needs at least one of learning_rate, learning_rate_factor, weight_decay, "
                + "grad_clip, grad_clip_percentile.";
        }
        if (LearningRate is not null && LearningRateFactor is not null)
        {
            return "give learning_rate or learning_rate_factor, not both.";
        }
        if (GradClip is not null && GradClipPercentile is not null)
        {
            return "give grad_clip or grad_clip_percentile, not both.";
        }
        return OutOfRange("learning_rate", LearningRate, NumericLimits.MaxLearningRate, zeroAllowed: false)
            ?? OutOfRange("learning_rate_factor", LearningRateFactor, NumericLimits.MaxScaleFactor, zeroAllowed: false)
            ?? OutOfRange("weight_decay", WeightDecay, NumericLimits.MaxWeightDecay, zeroAllowed: true)
            ?? OutOfRange("grad_clip", GradClip, NumericLimits.MaxGradClip, zeroAllowed: true, " (0 turns clipping off)")
            ?? OutOfRange("grad_clip_percentile", GradClipPercentile, 100, zeroAllowed: false);
    }
}

public sealed record SaveCheckpointCommand : TrainerCommand
{
    /// <summary>Also write it to disk (it is always kept in memory).</summary>
    public bool ToDisk { get; init; } = true;

    protected override string KindName => CommandKinds.SaveCheckpoint;
}

/// <summary>Restores a checkpoint and continues on a new branch.</summary>
public sealed record LoadCheckpointCommand(string CheckpointId) : TrainerCommand
{
    protected override string KindName => CommandKinds.LoadCheckpoint;

    public override string? Validate() =>
        string.IsNullOrWhiteSpace(CheckpointId) ? "load_checkpoint needs a checkpoint_id." : null;
}

/// <summary>An operation on one module and everything inside it: re-initialise it, freeze or unfreeze it (a frozen
/// layer's parameters are left out of every update, weight decay included), or train it at a multiple of the run's
/// learning rate (<see cref="Factor"/>, for <see cref="LayerOperations.ScaleLearningRate"/>; 1 restores it).</summary>
public sealed record ModelLayerOperationCommand(string Layer, string Operation = LayerOperations.ResetParameters)
    : TrainerCommand
{
    public double? Factor { get; init; }

    protected override string KindName => CommandKinds.ModelLayerOperation;

    public override string? Validate()
    {
        if (string.IsNullOrWhiteSpace(Layer))
        {
            return "model_layer_operation needs a layer name.";
        }
        if (!LayerOperations.All.Contains(Operation))
        {
            return $"operation '{Operation}' is not one of {string.Join(", ", LayerOperations.All)}.";
        }
        if (Operation != LayerOperations.ScaleLearningRate)
        {
            return Factor is null ? null : $"operation '{Operation}' takes no factor.";
        }
        return Factor is null
            ? $"operation '{LayerOperations.ScaleLearningRate}' needs a factor (the layer's lr multiplier)."
            : OutOfRange("factor", Factor, NumericLimits.MaxScaleFactor, zeroAllowed: false);
    }
}

/// <summary>Moves the data position past this many batches without training on them: the rollback-and-skip repair of
/// a loss spike caused by bad data (PaLM skipped 200 to 500 batches).</summary>
public sealed record SkipDataCommand(long Batches) : TrainerCommand
{
    protected override string KindName => CommandKinds.SkipData;

    public override string? Validate() => Batches is >= 1 and <= NumericLimits.MaxSkippedBatches ? null
        : string.Create(CultureInfo.InvariantCulture,
            $"skip_data needs batches from 1 to {NumericLimits.MaxSkippedBatches}; got {Batches}.");
}

/// <summary>Tests settings instead of guessing them: forks one branch per learning-rate factor from the present
/// step (the ×1 candidate continues the current branch), trains each <see cref="Steps"/> steps from the same
/// state on the same batches, evaluates each on the same held-out batches, and continues the best. Another
/// candidate must beat the current settings by <see cref="MinImprovement"/> (a fraction) to be chosen: noise
/// alone never moves a run. When the best is the lowest or highest factor tried, the best lr may lie further out:
/// another round explores around it, from its state, up to <see cref="MaxRounds"/> (a line search that brackets
/// the lr). Every branch stays in the records.</summary>
public sealed record ExploreCommand : TrainerCommand
{
    public const int MinBranches = 2;
    public const int MaxBranches = 8;

    public required IReadOnlyList<double> LearningRateFactors { get; init; }
    public required long Steps { get; init; }
    public double MinImprovement { get; init; } = 0.01;
    public int MaxRounds { get; init; } = 1;

    /// <summary>Who picks the branch to continue after the last round: the lowest validation loss, or a person (the
    /// run pauses until a <see cref="ChooseBranchCommand"/>).</summary>
    public BranchChoice ChooseBy { get; init; } = BranchChoice.Best;

    protected override string KindName => CommandKinds.Explore;

    public override string? Validate()
    {
        if (LearningRateFactors is not { Count: >= MinBranches and <= MaxBranches })
        {
            return string.Create(CultureInfo.InvariantCulture,
                $"explore needs {MinBranches} to {MaxBranches} learning_rate_factors; "
                + $"got {LearningRateFactors?.Count ?? 0}.");
        }
        if (LearningRateFactors.Distinct().Count() != LearningRateFactors.Count)
        {
            return "explore's learning_rate_factors must differ from each other.";
        }
        if (Steps < 1)
        {
            return string.Create(
                CultureInfo.InvariantCulture, $"explore needs steps of at least 1 per branch; got {Steps}.");
        }
        return LearningRateFactors
                .Select(f => OutOfRange("learning_rate_factors", f, NumericLimits.MaxScaleFactor, zeroAllowed: false))
                .FirstOrDefault(p => p is not null)
            ?? (MinImprovement is >= 0 and < 1 ? null : string.Create(CultureInfo.InvariantCulture,
                $"explore's min_improvement must be a fraction from 0 to below 1; got {MinImprovement:G4}."))
            ?? (MaxRounds is >= 1 and <= 10 ? null : string.Create(CultureInfo.InvariantCulture,
                $"explore's max_rounds must be from 1 to 10; got {MaxRounds}."));
    }
}

/// <summary>Who picks the branch an exploration continues.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<BranchChoice>))]
public enum BranchChoice
{
    [JsonStringEnumMemberName(BranchChoiceNames.Best)] Best,
    [JsonStringEnumMemberName(BranchChoiceNames.Person)] Person,
}

public static class BranchChoiceNames
{
    public const string Best = "best";
    public const string Person = "person";
    public static readonly string[] All = [Best, Person];
}

/// <summary>A person's pick among an exploration's last round of branches (one that waits for it): the run continues
/// on that branch, from where its branch ended.</summary>
public sealed record ChooseBranchCommand(int Branch) : TrainerCommand
{
    protected override string KindName => CommandKinds.ChooseBranch;

    public override string? Validate() => Branch >= 0 ? null
        : string.Create(CultureInfo.InvariantCulture, $"choose_branch needs a branch id (0 or more); got {Branch}.");
}

/// <summary>Changes the training data's mixture at a step boundary: adds sources (a text file or a folder of them, for
/// char-lm), removes some, sets the weights of others. Each batch window is drawn from a source with probability in
/// proportion to its weight. The mixture is part of every checkpoint: a rollback restores it.</summary>
public sealed record UpdateDatasetCommand : TrainerCommand
{
    public IReadOnlyList<DataSourceSpec> Add { get; init; } = [];
    public IReadOnlyList<string> Remove { get; init; } = [];
    public IReadOnlyDictionary<string, double> Weights { get; init; } = new Dictionary<string, double>();

    protected override string KindName => CommandKinds.UpdateDataset;

    public override string? Validate()
    {
        if (Add.Count == 0 && Remove.Count == 0 && Weights.Count == 0)
        {
            return "update_dataset needs at least one of add, remove, weights.";
        }
        string[] named = [.. Add.Select(a => a.Name), .. Remove, .. Weights.Keys];
        if (named.Any(string.IsNullOrWhiteSpace) || Add.Any(a => string.IsNullOrWhiteSpace(a.Path)))
        {
            return "every data source needs a name (and one added, a path).";
        }
        if (named.Distinct(StringComparer.Ordinal).Count() != named.Length)
        {
            return "update_dataset names each source once: in add, remove or weights.";
        }
        return Add.Select(a => (a.Name, a.Weight)).Concat(Weights.Select(w => (w.Key, w.Value)))
            .Select(w => OutOfRange($"the weight of '{w.Item1}'", w.Item2, NumericLimits.MaxScaleFactor, zeroAllowed: true))
            .FirstOrDefault(p => p is not null);
    }
}

/// <summary>A data source to add: its name in the mixture, where its data is, and its weight (0: kept, not
/// drawn).</summary>
public sealed record DataSourceSpec(string Name, string Path, double Weight = 1);

public sealed record EvaluateCommand : TrainerCommand
{
    protected override string KindName => CommandKinds.Evaluate;
}

public sealed record PauseCommand : TrainerCommand
{
    protected override string KindName => CommandKinds.Pause;
}

public sealed record ResumeCommand : TrainerCommand
{
    protected override string KindName => CommandKinds.Resume;
}

public sealed record StopCommand : TrainerCommand
{
    protected override string KindName => CommandKinds.Stop;
}

public static class CommandKinds
{
    public const string UpdateOptimizer = "update_optimizer";
    public const string SaveCheckpoint = "save_checkpoint";
    public const string LoadCheckpoint = "load_checkpoint";
    public const string ModelLayerOperation = "model_layer_operation";
    public const string SkipData = "skip_data";
    public const string Explore = "explore";
    public const string UpdateDataset = "update_dataset";
    public const string ChooseBranch = "choose_branch";
    public const string Evaluate = "evaluate";
    public const string Pause = "pause";
    public const string Resume = "resume";
    public const string Stop = "stop";

    public static readonly string[] All = [
        UpdateOptimizer, SaveCheckpoint, LoadCheckpoint, ModelLayerOperation, SkipData, Explore, ChooseBranch,
        UpdateDataset, Evaluate, Pause, Resume, Stop,
    ];
}

public static class LayerOperations
{
    public const string ResetParameters = "reset_parameters";
    public const string Freeze = "freeze";
    public const string Unfreeze = "unfreeze";
    public const string ScaleLearningRate = "scale_learning_rate";
    public static readonly string[] All = [ResetParameters, Freeze, Unfreeze, ScaleLearningRate];
}
