using AgentTrainer.Agents.Storage;
using AgentTrainer.Core.Records;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;

namespace AgentTrainer.ControlPlane.Api;

/// <summary>The durable audit log (agent.db), searchable and paged newest first.</summary>
public static class AuditApi
{
    public const int MaxLimit = 1_000;
    public const int MaxQueryLength = 200;

    public static void Map(RouteGroupBuilder api) =>
        api.MapGet("/audit", Search).RequireRun().WithSummary(
            "Audit entries, newest first: q finds text anywhere in an entry, type keeps one event type, before_id pages back.");

    private static Results<Ok<AuditEntry[]>, ProblemHttpResult> Search(
        ActiveRun active, string? q, string? type, int? limit, [FromQuery(Name = "before_id")] long? beforeId)
    {
        if (q is { Length: > MaxQueryLength })
        {
            return ApiProblems.BadRequest($"q may have at most {MaxQueryLength} characters.");
        }
        if (type is not null && !RunEventTypes.All.Contains(type))
        {
            return ApiProblems.BadRequest($"type '{type}' is not one of {string.Join(", ", RunEventTypes.All)}.");
        }
        if (limit is < 1 or > MaxLimit)
        {
            return ApiProblems.BadRequest($"limit must be between 1 and {MaxLimit}; got {limit}.");
        }
        if (active.Required.Agent is not { } agent)
        {
            return TypedResults.Ok(Array.Empty<AuditEntry>());
        }
        return TypedResults.Ok(AuditLog.Search(agent.Audit.DatabasePath, q, type, limit ?? 100, beforeId).ToArray());
    }
}
