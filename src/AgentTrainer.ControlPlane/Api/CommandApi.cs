using System.Text.Json;
using AgentTrainer.ControlPlane.Live;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Runs;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;
using Microsoft.AspNetCore.Routing;

namespace AgentTrainer.ControlPlane.Api;

/// <summary>Commands from people and API clients: validated here (what can be checked now is
/// checked now), then queued like every other command and applied at the next step boundary.</summary>
public static class CommandApi
{
    private static readonly string[] Sources = ["human", "api"];

    public static void Map(RouteGroupBuilder api)
    {
        api.MapPost("/commands", Submit)
            .RequireRun()
            .RequireAuthorization(ControlPlaneSetup.OperatorPolicy)
            .Accepts<TrainerCommand>("application/json")
            .WithSummary("Queue a command (update_optimizer, save_checkpoint, load_checkpoint, model_layer_operation, evaluate, pause, resume, stop). "
                + "source=human (a person) or api (a program, the default).");
        api.MapGet("/commands", (RunMonitor monitor) => TypedResults.Ok(monitor.Commands().ToArray()))
            .WithSummary("Every command of the run (all sources) with its latest status.");
        api.MapGet("/commands/{id}", Find).WithSummary("One command and its status.");
    }

    private static async Task<Results<Accepted<CommandView>, ProblemHttpResult>> Submit(
        HttpRequest request, ActiveRun active, RunMonitor monitor, string? source)
    {
        if (source is not null && !Sources.Contains(source))
        {
            return ApiProblems.BadRequest($"source '{source}' is not one of {string.Join(", ", Sources)}.");
        }
        RunHandle handle = active.Required;
        (TrainerCommand? command, ProblemHttpResult? problem) = await ReadAsync(request, handle.Run, monitor.Outcome).ConfigureAwait(false);
        if (problem is not null)
        {
            return problem;
        }
        CommandRecord record = handle.Run.Commands.Submit(command!, source == "human" ? CommandSource.Human : CommandSource.Api);
        CommandView view = monitor.Command(record.Id) ?? new CommandView(record.Id, command!.Kind, record.Source, command, record.Status, record.Reason,
            handle.Run.State.Step, record.History[0].At, record.History[^1].At);
        return TypedResults.Accepted($"/api/commands/{record.Id}", view);
    }

    private static Results<Ok<CommandView>, ProblemHttpResult> Find(string id, RunMonitor monitor) =>
        monitor.Command(id) is { } view ? TypedResults.Ok(view) : ApiProblems.NotFound($"No command '{id}' in this run.");

    /// <summary>Reads a command for <paramref name="run"/> from the body, or says why it cannot be taken: bad JSON,
    /// no kind, a field that does not fit, a run that ended (<paramref name="outcome"/>), or what is wrong for it now.</summary>
    public static async Task<(TrainerCommand? Command, ProblemHttpResult? Problem)> ReadAsync(
        HttpRequest request, ISupervisedRun run, string? outcome)
    {
        (JsonElement body, ProblemHttpResult? problem) = await ApiRequest.ReadJsonAsync(request).ConfigureAwait(false);
        if (problem is not null)
        {
            return (null, problem);
        }
        if (!body.TryGetProperty("kind", out JsonElement kind) || kind.ValueKind != JsonValueKind.String
            || !CommandKinds.All.Contains(kind.GetString()))
        {
            return (null, ApiProblems.BadRequest($"The command needs a \"kind\": one of {string.Join(", ", CommandKinds.All)}."));
        }
        (TrainerCommand? command, ProblemHttpResult? invalid) = ApiRequest.Bind<TrainerCommand>(body);
        if (invalid is not null)
        {
            return (null, invalid);
        }
        if (outcome is not null)
        {
            return (null, ApiProblems.Conflict($"The run has ended ({outcome}); it takes no more commands."));
        }
        return Check(command!, run) is { } wrong ? (null, ApiProblems.BadRequest(wrong)) : (command, null);
    }

    /// <summary>What makes the command wrong for this run now, or null. The trainer checks again when it applies it.</summary>
    private static string? Check(TrainerCommand command, ISupervisedRun run) => command.Validate() ?? command switch
    {
        LoadCheckpointCommand load when run.Checkpoints.All(c => c.Id != load.CheckpointId) =>
            $"checkpoint_id: no checkpoint '{load.CheckpointId}'; known: {string.Join(", ", run.Checkpoints.Select(c => c.Id))}.",
        ModelLayerOperationCommand layer when LayerNames.Problem(run.Layers, layer.Layer) is { } problem => $"layer: {problem}",
        _ => null,
    };
}
