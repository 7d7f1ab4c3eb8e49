using System.Text.Json;
using AgentTrainer.Agents.Storage;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace AgentTrainer.ControlPlane.Api;

/// <summary>The durable review queue: proposals the policy sent to a person, approved or rejected
/// here. An approval is validated again by the supervisor and applied exactly once.</summary>
public static class ReviewApi
{
    public const int MaxReviewerLength = 100;
    public const int MaxCommentLength = 2_000;

    public static void Map(RouteGroupBuilder api)
    {
        api.MapGet("/reviews", List).RequireRun().WithSummary("Proposals in the review queue, optionally of one status, with the summary the agent saw.");
        api.MapPost("/reviews/{id}/approve", (string id, HttpRequest request, ActiveRun active) => Decide(id, approve: true, request, active))
            .RequireRun()
            .RequireAuthorization(ControlPlaneSetup.ReviewerPolicy).Accepts<ReviewDecision>("application/json")
            .WithSummary("Approve a proposal awaiting review (reviewer required, comment optional).");
        api.MapPost("/reviews/{id}/reject", (string id, HttpRequest request, ActiveRun active) => Decide(id, approve: false, request, active))
            .RequireRun()
            .RequireAuthorization(ControlPlaneSetup.ReviewerPolicy).Accepts<ReviewDecision>("application/json")
            .WithSummary("Reject a proposal awaiting review (reviewer required, comment optional).");
    }

    private static Results<Ok<ReviewItem[]>, ProblemHttpResult> List(ActiveRun active, string? status)
    {
        if (status is not null && !ReviewStatus.All.Contains(status))
        {
            return ApiProblems.BadRequest($"status '{status}' is not one of {string.Join(", ", ReviewStatus.All)}.");
        }
        return TypedResults.Ok(active.Required.Agent?.Reviews.List(status).ToArray() ?? []);
    }

    private static async Task<Results<Ok<ReviewItem>, ProblemHttpResult>> Decide(string id, bool approve, HttpRequest request, ActiveRun active)
    {
        (JsonElement body, ProblemHttpResult? problem) = await ApiRequest.ReadJsonAsync(request).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }
        (ReviewDecision? decision, ProblemHttpResult? invalid) = ApiRequest.Bind<ReviewDecision>(body);
        if (invalid is not null)
        {
            return invalid;
        }
        if (string.IsNullOrWhiteSpace(decision!.Reviewer) || decision.Reviewer.Length > MaxReviewerLength)
        {
            return ApiProblems.BadRequest($"reviewer must name who decides (1 to {MaxReviewerLength} characters).");
        }
        if (decision.Comment is { Length: > MaxCommentLength })
        {
            return ApiProblems.BadRequest($"comment may have at most {MaxCommentLength} characters; got {decision.Comment.Length}.");
        }
        if (active.Required.Agent is not { } agent || agent.Reviews.List().FirstOrDefault(item => item.ProposalId == id) is null)
        {
            return ApiProblems.NotFound($"No proposal '{id}' in the review queue.");
        }
        if (agent.Reviews.Decide(id, approve, decision.Reviewer.Trim(), decision.Comment) is { } refused)
        {
            return ApiProblems.Conflict(refused);
        }
        if (approve)
        {
            await agent.Supervisor.ProcessReviewsAsync(); // apply it now rather than at the next poll
        }
        return TypedResults.Ok(agent.Reviews.List().First(item => item.ProposalId == id));
    }
}

/// <summary>A reviewer's answer to a proposal.</summary>
public sealed record ReviewDecision(string Reviewer, string? Comment = null);
