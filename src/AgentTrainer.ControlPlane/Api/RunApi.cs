using AgentTrainer.ControlPlane.Live;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace AgentTrainer.ControlPlane.Api;

/// <summary>Read-only views of the run: state, metrics per branch, checkpoints, branches, recent events, policy.</summary>
public static class RunApi
{
    public const int MaxPointsLimit = 100_000;
    public const int EventsLimit = 5_000;

    public static void Map(RouteGroupBuilder api)
    {
        api.MapGet("/run", State).RequireRun().WithSummary("The run's state: step, branch, learning rate, paused, outcome, agent and policy, stream clients.");
        api.MapGet("/metrics", Metrics).WithSummary("Training steps and evaluations, per branch; long series thinned to max_points per branch.");
        api.MapGet("/checkpoints", Checkpoints).RequireRun().WithSummary("Checkpoints in memory and on disk, with validation loss where known.");
        api.MapGet("/branches", Branches).RequireRun().WithSummary("The branch tree: each branch's parent, fork step and the checkpoint it started from.");
        api.MapGet("/events", Events).WithSummary("Recent run events (commands, checkpoints, branches, faults, decisions, proposals, reviews, effects).");
        api.MapGet("/policy", PolicyInForce).RequireRun().WithSummary("The policy in force: its limits and the YAML it was loaded from.");
    }

    private static Ok<RunStateView> State(ActiveRun active, RunMonitor monitor, LiveStream stream)
    {
        RunHandle handle = active.Required;
        ISupervisedRun run = handle.Run;
        RunState state = run.State;
        string status = monitor.Outcome ?? (state.Paused ? "paused" : "running");
        return TypedResults.Ok(new RunStateView(
            status, run.Task, state.Step, state.TotalSteps, state.Branch, state.LearningRate, state.BaseLearningRate, state.Paused,
            state.LastLoss, Path.GetFullPath(run.Folder), run.Session, run.ResumedFromCheckpoint,
            handle.Agent?.Provider ?? "none", handle.Agent?.Policy.Name, run.Layers,
            new BudgetView(state.TrainedSteps, run.Budget.MaxTrainedSteps, state.BudgetStepsLeft, run.Budget.Deadline),
            new StreamView(stream.Clients, stream.DroppedClients, stream.SampledOutMessages)));
    }

    private static Results<Ok<MetricsView>, ProblemHttpResult> Metrics(
        RunMonitor monitor, int? branch, [FromQuery(Name = "since_step")] long? sinceStep, [FromQuery(Name = "max_points")] int? maxPoints)
    {
        if (maxPoints is < 2 or > MaxPointsLimit)
        {
            return ApiProblems.BadRequest($"max_points must be between 2 and {MaxPointsLimit}; got {maxPoints}.");
        }
        if (branch is < 0)
        {
            return ApiProblems.BadRequest($"branch must be 0 or more; got {branch}.");
        }
        return TypedResults.Ok(monitor.Metrics(branch, sinceStep, maxPoints ?? 5_000));
    }

    private static Ok<CheckpointInfo[]> Checkpoints(ActiveRun active) => TypedResults.Ok(active.Required.Run.Checkpoints.ToArray());

    private static Ok<BranchInfo[]> Branches(ActiveRun active) => TypedResults.Ok(active.Required.Run.Branches.ToArray());

    private static Results<Ok<RunEvent[]>, ProblemHttpResult> Events(RunMonitor monitor, string? type, int? limit)
    {
        if (type is not null && !RunEventTypes.All.Contains(type))
        {
            return ApiProblems.BadRequest($"type '{type}' is not one of {string.Join(", ", RunEventTypes.All)}.");
        }
        if (limit is < 1 or > EventsLimit)
        {
            return ApiProblems.BadRequest($"limit must be between 1 and {EventsLimit}; got {limit}.");
        }
        return TypedResults.Ok(monitor.Events(type, limit ?? 1_000).ToArray());
    }

    private static Results<Ok<PolicyView>, ProblemHttpResult> PolicyInForce(ActiveRun active)
    {
        if (active.Required.Agent is not { } agent)
        {
            return ApiProblems.NotFound("This run has no agent (--agent none), so no policy is in force.");
        }
        Policy policy = agent.Policy;
        return TypedResults.Ok(new PolicyView(policy, File.Exists(policy.Source) ? File.ReadAllText(policy.Source) : null));
    }
}

public sealed record RunStateView(
    string Status, string Task, long Step, long TotalSteps, int Branch, double LearningRate, double BaseLearningRate, bool Paused,
    double? LastLoss, string RunFolder, int Session, string? ResumedFromCheckpoint, string Agent, string? Policy, IReadOnlyList<string> Layers,
    BudgetView Budget, StreamView Stream);

/// <summary>The run's budget as spent: steps trained in all (rolled-back ones count), the most allowed, the
/// steps left (fewer when the deadline, at the measured pace, holds fewer) and the deadline, if any.</summary>
public sealed record BudgetView(long TrainedSteps, long MaxTrainedSteps, long StepsLeft, DateTimeOffset? Deadline);

public sealed record StreamView(int Clients, long DroppedClients, long SampledOutMessages);

public sealed record PolicyView(Policy Policy, string? Yaml);
