using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Policies;

namespace AgentTrainer.Agents.Tests;

/// <summary>The shipped policies as they are, and small builders for what the parts are fed.</summary>
internal static class Shipped
{
    public static Policy Policy(string name) =>
        PolicyLoader.Load(Path.Combine(AppContext.BaseDirectory, "policies", name + ".yaml"));

    public static StepMetrics Step(long step, double loss, double gradNorm = 1.0) =>
        new(step, 0, 0, loss, 1e-3, gradNorm, 1, 1000, !double.IsFinite(loss));

    public static Proposal Proposal(
        string id, InterventionAction action, long step, string? checkpoint = null, string? layer = null) => new()
    {
        Id = id, Action = action, Reason = "test", Source = CommandSource.Agent, BasedOnStep = step, BasedOnBranch = 0,
        CheckpointId = checkpoint, Layer = layer,
    };
}
