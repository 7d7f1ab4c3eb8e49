using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using AgentTrainer.App.Hosting;
using AgentTrainer.ControlPlane.Live;

namespace AgentTrainer.App.Cli;

/// <summary><c>agent-trainer watch</c>: follows a running host's live stream in the terminal: steps
/// (every --every-th), evaluations, and what happens to the run (commands, proposals, reviews).</summary>
public static class WatchCommandLine
{
    public static Command Create()
    {
        var api = new ApiOptions();
        var every = new Option<int>("--every") { Description = "print every N-th step (evaluations and events always)", DefaultValueFactory = _ => 10 };
        var command = new Command("watch", "Follow a running host's live stream (reading needs no token on loopback).") { every };
        api.AddTo(command);
        command.SetAction((parse, cancellation) => ApiOptions.Guard(async () =>
        {
            int stride = Math.Max(1, parse.GetValue(every));
            using ControlPlaneClient client = ControlPlaneClient.Create(parse.GetValue(api.Url)!, parse.GetValue(api.Token), tokenRequired: false);
            try
            {
                await client.Follow((type, data) =>
                {
                    if (Describe(type, data, stride) is { } line)
                    {
                        Console.WriteLine(line);
                    }
                }, cancellation).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Ctrl+C
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    private static string? Describe(string type, JsonElement data, int stride) => type switch
    {
        StreamTypes.Step when data.GetProperty("step").GetInt64() % stride == 0 => string.Create(CultureInfo.InvariantCulture,
            $"step {data.GetProperty("step").GetInt64()} branch {data.GetProperty("branch").GetInt32()} loss {Number(data, "loss")} lr {Number(data, "lr")} grad_norm {Number(data, "grad_norm")}"),
        StreamTypes.Evaluation => string.Create(CultureInfo.InvariantCulture,
            $"eval  step {data.GetProperty("step").GetInt64()} branch {data.GetProperty("branch").GetInt32()} val_loss {Number(data, "val_loss")}"),
        StreamTypes.Event => $"event {data.GetProperty("type").GetString()} at step {data.GetProperty("step").GetInt64()}: {Summary(data)}",
        _ => null,
    };

    private static string Number(JsonElement data, string name) =>
        data.GetProperty(name) is { ValueKind: JsonValueKind.Number } number ? number.GetDouble().ToString("G5", CultureInfo.InvariantCulture) : data.GetProperty(name).ToString();

    private static string Summary(JsonElement data) => data.GetProperty("type").GetString() switch
    {
        "command" => $"{data.GetProperty("id")} {data.GetProperty("kind")} from {data.GetProperty("source")} {data.GetProperty("status")}"
            + (data.TryGetProperty("reason", out JsonElement reason) ? $": {reason}" : ""),
        "proposal" => $"{data.GetProperty("proposal_id")} {data.GetProperty("action")} -> {data.GetProperty("verdict")} ({data.GetProperty("rule")}): {data.GetProperty("reason")}",
        "review" => $"{data.GetProperty("proposal_id")} {data.GetProperty("status")}",
        _ => data.ToString(),
    };
}
