using System.Security.Claims;
using System.Text.Json;
using AgentTrainer.Agents.Storage;
using AgentTrainer.Core.Naming;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace AgentTrainer.ControlPlane.Api;

/// <summary>The durable review queue: proposals the policy sent to a person, approved or rejected
/// here. An approval is validated again by the supervisor and applied exactly once.</summary>
public static class ReviewApi
{
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

    /// <summary>Who decides: a person's token is its person, whatever the body says (bob may not approve as alice);
    /// the host's own token names no one, so the body must.</summary>
    private static (string? Reviewer, ProblemHttpResult? Problem) Reviewer(ClaimsPrincipal user, string? typed)
    {
        string? signedIn = user.Identity?.Name;
        if (signedIn is not null && signedIn != Names.HostTokenPerson)
        {
            return typed is null || typed.Trim() == signedIn ? (signedIn, null)
                : (null, ApiProblems.Problem(StatusCodes.Status403Forbidden, "Not allowed with this token",
                    $"this token is {signedIn}'s: a review is recorded under the token's person, not as '{typed.Trim()}'."));
        }
        return string.IsNullOrWhiteSpace(typed) || typed.Trim().Length > Names.MaxPersonLength
            ? (null, ApiProblems.BadRequest($"reviewer must name who decides (1 to {Names.MaxPersonLength} characters)."))
            : (typed.Trim(), null);
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
        (string? reviewer, ProblemHttpResult? notThem) = Reviewer(request.HttpContext.User, decision!.Reviewer);
        if (notThem is not null)
        {
            return notThem;
        }
        if (decision.Comment is { Length: > MaxCommentLength })
        {
            return ApiProblems.BadRequest($"comment may have at most {MaxCommentLength} characters; got {decision.Comment.Length}.");
        }
        if (active.Required.Agent is not { } agent || agent.Reviews.List().FirstOrDefault(item => item.ProposalId == id) is null)
        {
            return ApiProblems.NotFound($"No proposal '{id}' in the review queue.");
        }
        if (agent.Reviews.Decide(id, approve, reviewer!, decision.Comment) is { } refused)
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

/// <summary>A reviewer's answer to a proposal. <see cref="Reviewer"/> names who decides where the host's own token
/// is used (one token shared by whoever runs the host); a person's own token names them, and may not name another.</summary>
public sealed record ReviewDecision(string? Reviewer = null, string? Comment = null);
