using System.Security.Claims;
using System.Text.Json;
using AgentTrainer.ControlPlane.Api;
using AgentTrainer.ControlPlane.Security;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Mvc;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using static System.FormattableString;

namespace AgentTrainer.ControlPlane.Remote;

/// <summary>The trainer protocol's endpoints (<see cref="TrainerProtocol"/>). Registering takes the host's
/// operator token; everything about one run takes that run's token (or the operator's): a run token used on
/// another run is refused with 403.</summary>
public static class TrainerProtocolApi
{
    private const int MaxWaitSeconds = 60;

    public static void Map(IEndpointRouteBuilder app)
    {
        RouteGroupBuilder v1 = app.MapGroup(TrainerProtocol.Prefix)
            .RequireAuthorization(ControlPlaneSetup.TrainerPolicy).WithTags("Trainer protocol");
        v1.MapPost("/runs", Register).RequireAuthorization(ControlPlaneSetup.OperatorPolicy).WithSummary(
            "A trainer registers a run (name, task, layers, optimizer, capabilities): a run token scoped to it.");
        RouteGroupBuilder run = v1.MapGroup("/runs/{id}").AddEndpointFilter(OwnRunOnly);
        run.MapGet("", State).WithSummary("The run's state as the host sees it.");
        run.MapPost("/reports", Reports)
            .WithSummary("Steps, evaluations, checkpoints, command outcomes and the end, in numbered batches.");
        run.MapGet("/commands", CommandsOwed).WithSummary(
            "Long poll: the commands for the trainer (every one sent and not yet answered), waiting up to wait_s.");
        run.MapPost("/commands", Submit).Accepts<TrainerCommand>("application/json")
            .WithSummary("Queue a command for the run, as POST /api/commands does for the dashboard's run.");
        run.MapGet("/checkpoints", (string id, RemoteRuns runs) => TypedResults.Ok(runs.Find(id)!.Checkpoints.ToArray()))
            .WithSummary("The checkpoints the trainer reported.");
        run.MapPost("/sessions", StartSession).WithSummary(
            "The trainer came back (restarted from its checkpoint): the run continues as its next session.");
    }

    private static async Task<Results<Created<RunAttached>, ProblemHttpResult>> Register(
        HttpRequest request, RemoteRuns runs)
    {
        (RegisterRunRequest? registration, ProblemHttpResult? problem) =
            await ReadAsync<RegisterRunRequest>(request).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }
        (RunAttached? attached, ProtocolProblem? refused) = await runs.RegisterAsync(registration!).ConfigureAwait(false);
        return refused is not null
            ? Problem(refused)
            : TypedResults.Created($"{TrainerProtocol.Prefix}/runs/{attached!.RunId}", attached);
    }

    private static Ok<RemoteRunView> State(string id, RemoteRuns runs)
    {
        RemoteRun run = runs.Find(id)!;
        RunState state = run.State;
        string status = run.Outcome ?? (state.Paused ? "paused" : "running");
        return TypedResults.Ok(new RemoteRunView(run.Id, run.Session, status, run.Task, state.Step, state.TotalSteps,
            state.Branch, state.LearningRate, state.BaseLearningRate, state.Paused, state.LastLoss, state.TrainedSteps,
            run.LastBatch, run.Folder, run.ResumedFromCheckpoint, run.Layers, run.HandedBack));
    }

    private static async Task<Results<Ok<BatchAccepted>, ProblemHttpResult>> Reports(
        string id, HttpRequest request, RemoteRuns runs)
    {
        (ReportBatch? batch, ProblemHttpResult? problem) = await ReadAsync<ReportBatch>(request).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }
        RemoteRun run = runs.Find(id)!;
        if (await run.AcceptAsync(batch!, request.HttpContext.RequestAborted).ConfigureAwait(false) is { } refused)
        {
            return Problem(refused);
        }
        RunState state = run.State;
        return TypedResults.Ok(new BatchAccepted(batch!.Batch, state.Step, state.Branch));
    }

    private static async Task<Results<Ok<CommandsForTrainer>, ProblemHttpResult>> CommandsOwed(
        string id, RemoteRuns runs, HttpContext context, [FromQuery(Name = "wait_s")] double? waitSeconds)
    {
        if (waitSeconds is < 0 or > MaxWaitSeconds || waitSeconds is { } wait && !double.IsFinite(wait))
        {
            return ApiProblems.BadRequest(
                Invariant($"wait_s must be between 0 and {MaxWaitSeconds}; got {waitSeconds}."));
        }
        RemoteRun run = runs.Find(id)!;
        if (run.Outcome is { } ended)
        {
            return ApiProblems.Conflict(
                Invariant($"session {run.Session} of run {id} has ended ({ended}); no commands will come."));
        }
        TimeSpan longest = TimeSpan.FromSeconds(waitSeconds ?? runs.Schedule.PollWaitSeconds);
        IReadOnlyList<CommandRecord> owed =
            await run.TakeCommandsAsync(longest, context.RequestAborted).ConfigureAwait(false);
        return TypedResults.Ok(new CommandsForTrainer([.. owed.Select(r => new CommandForTrainer(r.Id, r.Command))]));
    }

    private static async Task<Results<Accepted<CommandForTrainer>, ProblemHttpResult>> Submit(
        string id, HttpRequest request, RemoteRuns runs)
    {
        RemoteRun run = runs.Find(id)!;
        (TrainerCommand? command, ProblemHttpResult? problem) =
            await CommandApi.ReadAsync(request, run, run.Outcome).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }
        CommandRecord record = run.Commands.Submit(command!, CommandSource.Api);
        return TypedResults.Accepted(
            $"{TrainerProtocol.Prefix}/runs/{id}/commands", new CommandForTrainer(record.Id, command!));
    }

    private static async Task<Results<Ok<RunAttached>, ProblemHttpResult>> StartSession(
        string id, HttpRequest request, RemoteRuns runs)
    {
        (StartSessionRequest? start, ProblemHttpResult? problem) =
            await ReadAsync<StartSessionRequest>(request).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }
        string token = BearerTokenHandler.TokenOf(request) ?? "";
        (RunAttached? attached, ProtocolProblem? refused) =
            await runs.StartSessionAsync(id, token, start!).ConfigureAwait(false);
        return refused is not null ? Problem(refused) : TypedResults.Ok(attached!);
    }

    /// <summary>A run's endpoints answer the operator and that run's own trainer: another run's token gets 403, an
    /// unknown run 404.</summary>
    private static async ValueTask<object?> OwnRunOnly(
        EndpointFilterInvocationContext context, EndpointFilterDelegate next)
    {
        HttpContext http = context.HttpContext;
        string id = (string)http.GetRouteValue("id")!;
        ClaimsPrincipal user = http.User;
        string? scope = user.FindFirstValue(BearerTokenHandler.RunClaim);
        if (!user.IsInRole(BearerTokenHandler.OperatorRole) && scope != id)
        {
            return ApiProblems.Problem(StatusCodes.Status403Forbidden, "Not this token's run",
                $"This token is scoped to run {scope}; it cannot read or command run {id}.");
        }
        return http.RequestServices.GetRequiredService<RemoteRuns>().Find(id) is null
            ? ApiProblems.NotFound($"No run '{id}' is attached to this host.")
            : await next(context).ConfigureAwait(false);
    }

    private static async Task<(T? Value, ProblemHttpResult? Problem)> ReadAsync<T>(HttpRequest request)
        where T : class
    {
        (JsonElement body, ProblemHttpResult? problem) = await ApiRequest.ReadJsonAsync(request).ConfigureAwait(false);
        return problem is not null ? (null, problem) : ApiRequest.Bind<T>(body);
    }

    private static ProblemHttpResult Problem(ProtocolProblem problem) => ApiProblems.Problem(problem.Status,
        problem.Status switch
        {
            StatusCodes.Status404NotFound => "Not found",
            StatusCodes.Status409Conflict => "Conflict",
            StatusCodes.Status413PayloadTooLarge => "Batch too large",
            _ => "Invalid request",
        },
        problem.Detail);
}

/// <summary>A remote run as its trainer and the operator read it; once the session ended, the model it hands
/// back.</summary>
public sealed record RemoteRunView(
    string RunId, int Session, string Status, string Task, long Step, long TotalSteps, int Branch, double LearningRate,
    double BaseLearningRate, bool Paused, double? LastLoss, long TrainedSteps, long LastBatch, string Folder,
    string? ResumedFromCheckpoint, IReadOnlyList<string> Layers, HandedBackModel? HandedBack);
