using System.Security.Claims;
using System.Text.Json;
using AgentTrainer.Agents.Storage;
using AgentTrainer.ControlPlane;
using AgentTrainer.ControlPlane.Api;
using AgentTrainer.ControlPlane.Security;
using AgentTrainer.Core.Naming;
using AgentTrainer.Service.Alerts;
using AgentTrainer.Service.Audit;
using AgentTrainer.Service.Inbox;
using AgentTrainer.Service.Reports;
using AgentTrainer.Service.Runs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace AgentTrainer.Service.Api;

/// <summary>The service's API under /api/service: the runs (list, submit, stop, restart, chart), the inbox (list,
/// approve, reject as the authenticated person), the audit across runs, the morning report, and the alerts' log.
/// Reading takes what the host's reads take; deciding a reviewer's token, starting and stopping an
/// operator's.</summary>
public static class ServiceApi
{
    public const int MaxCommentLength = 2_000;
    public const int MaxListLength = 1_000;

    public static void Map(IEndpointRouteBuilder app)
    {
        RouteGroupBuilder api = app.MapGroup("/api/service").RequireAuthorization(ControlPlaneSetup.ReaderPolicy)
            .WithTags("Service");
        api.MapGet("/runs", (RunIndex index) => TypedResults.Ok(index.List())).WithSummary("Every run the service knows.");
        api.MapPost("/runs", Submit).RequireAuthorization(ControlPlaneSetup.OperatorPolicy)
            .Accepts<SubmitRequest>("application/json").WithSummary("Queue a run of these settings (operator).");
        api.MapPost("/runs/{name}/stop", (string name, HttpContext http, RunIndex index, RunLauncher launcher, ServiceAudit audit) =>
                Act(name, "run_stopped", http, index, audit, launcher.Stop)).RequireAuthorization(ControlPlaneSetup.OperatorPolicy)
            .WithSummary("Stop a run: a queued one is cancelled, a running one ends at a step boundary (operator).");
        api.MapPost("/runs/{name}/restart",
                (string name, HttpContext http, RunIndex index, RunLauncher launcher, ServiceAudit audit) =>
                    Act(name, "run_restarted", http, index, audit, launcher.Restart))
            .RequireAuthorization(ControlPlaneSetup.OperatorPolicy)
            .WithSummary("Queue a lost, failed or interrupted run again, from its last checkpoint (operator).");
        api.MapGet("/runs/{name}/chart.png", Chart).WithSummary("A run's validation loss, interventions marked (PNG).");
        api.MapGet("/inbox", (ReviewInbox inbox, string? status, string? run) => Inbox(inbox, status, run))
            .WithSummary("Proposals of every run; waiting ones first, the soonest deadline first.");
        api.MapPost("/inbox/{run}/{id}/approve", (string run, string id, HttpContext http, ReviewInbox inbox) =>
                Decide(run, id, approve: true, http, inbox)).RequireAuthorization(ControlPlaneSetup.ReviewerPolicy)
            .Accepts<ReviewComment>("application/json").WithSummary("Approve a waiting proposal as yourself (reviewer).");
        api.MapPost("/inbox/{run}/{id}/reject", (string run, string id, HttpContext http, ReviewInbox inbox) =>
                Decide(run, id, approve: false, http, inbox)).RequireAuthorization(ControlPlaneSetup.ReviewerPolicy)
            .Accepts<ReviewComment>("application/json").WithSummary("Reject a waiting proposal as yourself (reviewer).");
        api.MapGet("/audit", (ServiceAudit audit, string? run, int? limit) => TypedResults.Ok(audit.Recent(run, Limit(limit))))
            .WithSummary("The audit across runs, newest first: every run's events, and who decided what here.");
        api.MapGet("/report", (MorningReport report, DateTimeOffset? since, DateTimeOffset? until) =>
            TypedResults.Ok(report.Build(since, until))).WithSummary("The morning report (default: since yesterday 18:00).");
        api.MapGet("/report.md", (MorningReport report, DateTimeOffset? since, DateTimeOffset? until, bool? chartFiles) =>
            TypedResults.Text(ReportWriter.Markdown(report.Build(since, until), chartsRelative: chartFiles == true), "text/markdown"))
            .WithSummary("The morning report as Markdown (chartFiles=true: charts linked as charts/NAME.png).");
        api.MapGet("/notifications", (Notifier notifier, int? limit) => TypedResults.Ok(notifier.Recent(Limit(limit))))
            .WithSummary("Notifications raised, newest first.");
        api.MapGet("/deliveries", (WebhookSender sender, int? limit) => TypedResults.Ok(sender.Log(Limit(limit))))
            .WithSummary("The webhook delivery log, newest first: attempts, and how each ended.");
        api.MapGet("/me", (HttpContext http) => TypedResults.Ok(PersonView.Of(PersonOf(http.User))))
            .WithSummary("Who the request's token belongs to (anonymous without one).");
    }

    private static int Limit(int? limit) => Math.Clamp(limit ?? 100, 1, MaxListLength);

    private static async Task<Results<Accepted<RunEntry>, ProblemHttpResult>> Submit(
        HttpRequest request, RunLauncher launcher, RunFolderSync sync, ServiceAudit audit)
    {
        (JsonElement body, ProblemHttpResult? problem) = await ApiRequest.ReadJsonAsync(request).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }
        (SubmitRequest? submit, ProblemHttpResult? invalid) = ApiRequest.Bind<SubmitRequest>(body);
        if (invalid is not null)
        {
            return invalid;
        }
        string person = PersonOf(request.HttpContext.User).Name;
        SubmitResult result = launcher.Submit(submit!.Name ?? "", submit.Settings, person);
        if (result.Run is null)
        {
            return result.IsConflict ? ApiProblems.Conflict(result.Problem!)
                : result.IsNoSpace ? ApiProblems.Problem(StatusCodes.Status507InsufficientStorage, "Disk full", result.Problem!)
                : ApiProblems.BadRequest(result.Problem!);
        }
        audit.Record(result.Run.Name, person, "run_submitted", null, new { result.Run.Kind, result.Run.Folder });
        launcher.StartQueued();
        sync.SyncOnce();
        return TypedResults.Accepted($"/api/service/runs/{Uri.EscapeDataString(result.Run.Name)}", result.Run);
    }

    private static Results<Ok<RunEntry>, ProblemHttpResult> Act(
        string name, string auditType, HttpContext http, RunIndex index, ServiceAudit audit, Func<RunEntry, string?> action)
    {
        if (index.Find(name) is not { } run)
        {
            return ApiProblems.NotFound($"no run named '{name}'.");
        }
        if (action(run) is { } problem)
        {
            return ApiProblems.Conflict(problem);
        }
        audit.Record(name, PersonOf(http.User).Name, auditType, null, new { WasState = run.State });
        return TypedResults.Ok(index.Find(name)!);
    }

    private static Results<FileContentHttpResult, ProblemHttpResult> Chart(string name, MorningReport report)
    {
        RunReport? run = report.Build(DateTimeOffset.MinValue, DateTimeOffset.MaxValue).Runs.FirstOrDefault(r => r.Name == name);
        return run is null ? ApiProblems.NotFound($"no run named '{name}'.")
            : run.Evaluations.Count == 0 ? ApiProblems.NotFound($"run '{name}' has no evaluation yet.")
            : TypedResults.File(ReportWriter.Chart(run), "image/png");
    }

    private static Results<Ok<IReadOnlyList<InboxItem>>, ProblemHttpResult> Inbox(ReviewInbox inbox, string? status, string? run)
    {
        if (status is not null && !ReviewStatus.All.Contains(status))
        {
            return ApiProblems.BadRequest($"status '{status}' is not one of {string.Join(", ", ReviewStatus.All)}.");
        }
        return TypedResults.Ok(inbox.List(status, run));
    }

    private static async Task<Results<Ok<InboxItem>, ProblemHttpResult>> Decide(
        string run, string id, bool approve, HttpContext http, ReviewInbox inbox)
    {
        ReviewComment comment = new(null);
        if (http.Request.ContentLength is > 0 || http.Request.Headers.TransferEncoding.Count > 0)
        {
            (JsonElement body, ProblemHttpResult? problem) = await ApiRequest.ReadJsonAsync(http.Request).ConfigureAwait(false);
            if (problem is not null)
            {
                return problem;
            }
            (ReviewComment? bound, ProblemHttpResult? invalid) = ApiRequest.Bind<ReviewComment>(body);
            if (invalid is not null)
            {
                return invalid;
            }
            comment = bound!;
        }
        if (comment.Comment is { Length: > MaxCommentLength })
        {
            return ApiProblems.BadRequest($"comment may have at most {MaxCommentLength} characters; got {comment.Comment.Length}.");
        }
        InboxDecision decision = inbox.Decide(run, id, approve, PersonOf(http.User), comment.Comment);
        return decision.Item is { } item ? TypedResults.Ok(item)
            : decision.NotFound ? ApiProblems.NotFound(decision.Problem!)
            : ApiProblems.Conflict(decision.Problem!);
    }

    /// <summary>The authenticated person (the host's own token is "operator", with every role).</summary>
    public static Person PersonOf(ClaimsPrincipal user) =>
        user.Identity is { IsAuthenticated: true, Name: { } name }
            ? new Person(name, PersonRoles.Parse(user.FindFirst(BearerTokenHandler.PersonRoleClaim)?.Value) ?? PersonRole.Viewer)
            : new Person(Names.NobodySignedIn, PersonRole.Viewer);
}

/// <summary>A run to queue: its name (its folder under the runs root) and its settings, as a --config file's
/// JSON.</summary>
public sealed record SubmitRequest(string? Name, JsonElement Settings);

/// <summary>Who a token belongs to, as the pages show it.</summary>
public sealed record PersonView(string Name, string Role)
{
    public static PersonView Of(Person person) => new(person.Name, PersonRoles.Name(person.Role));
}

/// <summary>A reviewer's comment on a decision (the reviewer is the token's person).</summary>
public sealed record ReviewComment(string? Comment);
