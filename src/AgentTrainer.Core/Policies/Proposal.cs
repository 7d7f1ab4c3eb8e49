using System.Text.Json.Serialization;
using AgentTrainer.Core.Commands;

namespace AgentTrainer.Core.Policies;

/// <summary>The agent's tools, one per intervention. The wire names are the tool names.</summary>
[JsonConverter(typeof(JsonStringEnumConverter<InterventionAction>))]
public enum InterventionAction
{
    [JsonStringEnumMemberName("double_learning_rate")] DoubleLearningRate,
    [JsonStringEnumMemberName("halve_learning_rate")] HalveLearningRate,
    [JsonStringEnumMemberName("keep_learning_rate")] KeepLearningRate,
    [JsonStringEnumMemberName("rollback_checkpoint")] RollbackCheckpoint,
    [JsonStringEnumMemberName("reset_layer")] ResetLayer,
}

public static class InterventionActions
{
    public static string Name(InterventionAction action) => action switch
    {
        InterventionAction.DoubleLearningRate => "double_learning_rate",
        InterventionAction.HalveLearningRate => "halve_learning_rate",
        InterventionAction.KeepLearningRate => "keep_learning_rate",
        InterventionAction.RollbackCheckpoint => "rollback_checkpoint",
        _ => "reset_layer",
    };

    public static InterventionAction? Parse(string name) =>
        Enum.GetValues<InterventionAction>().Cast<InterventionAction?>().FirstOrDefault(action => Name(action!.Value) == name);

    public static readonly string[] AllNames = [.. Enum.GetValues<InterventionAction>().Select(Name)];
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

    /// <summary>The command that carries the proposal out (null for keep).</summary>
    public TrainerCommand? ToCommand() => Action switch
    {
        InterventionAction.DoubleLearningRate => UpdateOptimizerCommand.ScaleLearningRate(2),
        InterventionAction.HalveLearningRate => UpdateOptimizerCommand.ScaleLearningRate(0.5),
        InterventionAction.RollbackCheckpoint => new LoadCheckpointCommand(CheckpointId ?? ""),
        InterventionAction.ResetLayer => new ModelLayerOperationCommand(Layer ?? ""),
        _ => null,
    };

    public string Describe() => Action switch
    {
        InterventionAction.RollbackCheckpoint => $"{InterventionActions.Name(Action)}({CheckpointId})",
        InterventionAction.ResetLayer => $"{InterventionActions.Name(Action)}({Layer})",
        _ => InterventionActions.Name(Action),
    };
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
