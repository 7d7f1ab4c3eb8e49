using System.ComponentModel;
using AgentTrainer.Core.Policies;
using Microsoft.SemanticKernel;

namespace AgentTrainer.Agents.Tools;

/// <summary>The agent's whole surface: one tool per intervention command. A call does not act; it
/// hands a proposal to the policy gate and returns the gate's answer as the tool result.</summary>
#pragma warning disable CA1707 // parameter names are the tool's wire names (checkpoint_id, layer_name)
public sealed class InterventionTools(Func<InterventionAction, string, string?, string?, string> propose)
{
    public const string PluginName = "training";

    /// <summary>The plugin offering exactly <paramref name="offered"/>: a tool the policy does not name is not
    /// advertised to the model at all.</summary>
    public static KernelPlugin Plugin(
        Func<InterventionAction, string, string?, string?, string> propose, IReadOnlyList<InterventionAction> offered)
    {
        HashSet<string> names = [.. offered.Select(InterventionActions.Name)];
        KernelPlugin all = KernelPluginFactory.CreateFromObject(new InterventionTools(propose), PluginName);
        return KernelPluginFactory.CreateFromFunctions(PluginName, all.Where(f => names.Contains(f.Name)));
    }

    [KernelFunction(ToolNames.DoubleLearningRate)]
    [Description("Double the learning rate of every parameter group. For a smooth but slow decline with a small, steady gradient norm.")]
    public string DoubleLearningRate([Description("Short reason citing the numbers relied on.")] string reason) =>
        propose(InterventionAction.DoubleLearningRate, reason, null, null);

    [KernelFunction(ToolNames.HalveLearningRate)]
    [Description("Halve the learning rate of every parameter group. For a rising, oscillating or stalled loss.")]
    public string HalveLearningRate([Description("Short reason citing the numbers relied on.")] string reason) =>
        propose(InterventionAction.HalveLearningRate, reason, null, null);

    [KernelFunction(ToolNames.KeepLearningRate)]
    [Description("Change nothing: the run is healthy or the evidence is weak.")]
    public string KeepLearningRate([Description("Short reason citing the numbers relied on.")] string reason) =>
        propose(InterventionAction.KeepLearningRate, reason, null, null);

    [KernelFunction(ToolNames.RollbackCheckpoint)]
    [Description("Restore a checkpoint (model, optimizer, learning rate, data position) and continue on a new branch. For divergence or NaN losses.")]
    public string RollbackCheckpoint(
        [Description("Id of a listed checkpoint, e.g. ckpt-000300-b0.")] string checkpoint_id,
        [Description("Short reason citing the numbers relied on.")] string reason) =>
        propose(InterventionAction.RollbackCheckpoint, reason, checkpoint_id, null);

    [KernelFunction(ToolNames.ResetLayer)]
    [Description("Re-initialise one layer's parameters and its optimizer state. For a dead or exploded layer.")]
    public string ResetLayer(
        [Description("Name of a listed layer, e.g. hidden1 or block0.")] string layer_name,
        [Description("Short reason citing the numbers relied on.")] string reason) =>
        propose(InterventionAction.ResetLayer, reason, null, layer_name);

    [KernelFunction(ToolNames.ExploreLearningRate)]
    [Description("Test the learning rate instead of guessing it: train a short branch at each of several multiples of "
        + "the current lr from the same state, compare them on the same held-out batches, and continue the best. "
        + "For a run that looks healthy but may train at the wrong lr (a smooth decline that is too slow, or a "
        + "plateau reached too early).")]
    public string ExploreLearningRate([Description("Short reason citing the numbers relied on.")] string reason) =>
        propose(InterventionAction.ExploreLearningRate, reason, null, null);

    [KernelFunction(ToolNames.SkipData)]
    [Description("Pass over the next batches of data without training on them (as many as the policy sets). After "
        + "rolling back past a loss spike caused by bad data, so the replay does not meet the same data again.")]
    public string SkipData([Description("Short reason citing the numbers relied on.")] string reason) =>
        propose(InterventionAction.SkipData, reason, null, null);
}
#pragma warning restore CA1707
