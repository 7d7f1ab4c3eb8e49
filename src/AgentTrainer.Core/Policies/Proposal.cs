using System.Text.Json.Serialization;
using AgentTrainer.Core.Commands;

namespace AgentTrainer.Core.Policies;

/// <summary>The agent's tool names and their argument names, spelled here once: the enum's wire names, the
/// Semantic Kernel functions, the rules model, replays and reports all use these.</summary>
public static class ToolNames
{
    public const string DoubleLearningRate = "double_learning_rate";
    public const string HalveLearningRate = "halve_learning_rate";
    public const string KeepLearningRate = "keep_learning_rate";
    public const string RollbackCheckpoint = "rollback_checkpoint";
    public const string ResetLayer = "reset_layer";
    public const string ExploreLearningRate = "explore_learning_rate";
    public const string SkipData = "skip_data";

    public const string ReasonArgument = "reason";
    public const string CheckpointArgument = "checkpoint_id";
    public const string LayerArgument = "layer_name";
}

/// <summary>The agent's tools, one per intervention. The wire names are the tool names.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<InterventionAction>))]
public enum InterventionAction
{
    [JsonStringEnumMemberName(ToolNames.DoubleLearningRate)] DoubleLearningRate,
    [JsonStringEnumMemberName(ToolNames.HalveLearningRate)] HalveLearningRate,
    [JsonStringEnumMemberName(ToolNames.KeepLearningRate)] KeepLearningRate,
    [JsonStringEnumMemberName(ToolNames.RollbackCheckpoint)] RollbackCheckpoint,
    [JsonStringEnumMemberName(ToolNames.ResetLayer)] ResetLayer,
    [JsonStringEnumMemberName(ToolNames.ExploreLearningRate)] ExploreLearningRate,
    [JsonStringEnumMemberName(ToolNames.SkipData)] SkipData,
}

public static class InterventionActions
{
    public static string Name(InterventionAction action) => action switch
    {
        InterventionAction.DoubleLearningRate => ToolNames.DoubleLearningRate,
        InterventionAction.HalveLearningRate => ToolNames.HalveLearningRate,
        InterventionAction.KeepLearningRate => ToolNames.KeepLearningRate,
        InterventionAction.RollbackCheckpoint => ToolNames.RollbackCheckpoint,
        InterventionAction.ResetLayer => ToolNames.ResetLayer,
        InterventionAction.ExploreLearningRate => ToolNames.ExploreLearningRate,
        _ => ToolNames.SkipData,
    };

    public static InterventionAction? Parse(string name) =>
        Enum.GetValues<InterventionAction>().Cast<InterventionAction?>().FirstOrDefault(action => Name(action!.Value) == name);

    public static readonly string[] AllNames = [.. Enum.GetValues<InterventionAction>().Select(Name)];

    /// <summary>The tools every policy offers; the others only a policy with their section.</summary>
    public static readonly InterventionAction[] Always =
    [
        InterventionAction.DoubleLearningRate, InterventionAction.HalveLearningRate, InterventionAction.KeepLearningRate,
        InterventionAction.RollbackCheckpoint, InterventionAction.ResetLayer,
    ];

    /// <summary>For people: the tool's name, with the checkpoint or layer it names, e.g. rollback_checkpoint(ckpt-000300-b0).</summary>
    public static string Describe(InterventionAction action, string? target) =>
        target is null ? Name(action) : $"{Name(action)}({target})";
}

/// <summary>What an agent (or a guard) proposes, and the run state it was based on.</summary>
public sealed record Proposal
{
    public required string Id { get; init; }
    public required InterventionAction Action { get; init; }
    public required string Reason { get; init; }
    public required CommandSource Source { get; init; }
    public required long BasedOnStep { get; init; }
    public required int BasedOnBranch { get; init; }
    public string? CheckpointId { get; init; }
    public string? Layer { get; init; }

    /// <summary>The command that carries the proposal out under <paramref name="policy"/> (null for keep, and for an
    /// exploration the policy does not offer).</summary>
    public TrainerCommand? ToCommand(Policy policy) => Action switch
    {
        InterventionAction.DoubleLearningRate => UpdateOptimizerCommand.ScaleLearningRate(2),
        InterventionAction.HalveLearningRate => UpdateOptimizerCommand.ScaleLearningRate(0.5),
        InterventionAction.RollbackCheckpoint => new LoadCheckpointCommand(CheckpointId ?? ""),
        InterventionAction.ResetLayer => new ModelLayerOperationCommand(Layer ?? ""),
        InterventionAction.ExploreLearningRate when policy.Explore is { } explore => new ExploreCommand
        {
            LearningRateFactors = explore.LearningRateFactors, Steps = explore.Steps, MaxRounds = explore.MaxRounds,
            ChooseBy = explore.Choose,
        },
        InterventionAction.SkipData when policy.SkipData is { } skip => new SkipDataCommand(skip.Batches),
        _ => null,
    };

    /// <summary>The checkpoint a rollback names or the layer a reset names; null for the lr tools.</summary>
    public string? Target => Action switch
    {
        InterventionAction.RollbackCheckpoint => CheckpointId,
        InterventionAction.ResetLayer => Layer,
        _ => null,
    };

    public string Describe() => InterventionActions.Describe(Action, Target);
}

[JsonConverter(typeof(JsonStringEnumConverter<Verdict>))]
public enum Verdict
{
    [JsonStringEnumMemberName("apply")] Apply,
    [JsonStringEnumMemberName("review")] Review,
    [JsonStringEnumMemberName("refuse")] Refuse,
}

/// <summary>The gate's answer: what happens, the rule that decided it, and why in plain words.</summary>
public sealed record GateDecision(Verdict Verdict, string Rule, string Reason)
{
    /// <summary>The text the agent gets back as its tool call's result.</summary>
    public string ToToolResult() => Verdict switch
    {
        Verdict.Apply => $"applied ({Rule}): {Reason}",
        Verdict.Review => $"queued for human review ({Rule}): {Reason}",
        _ => $"refused ({Rule}): {Reason}",
    };
}
