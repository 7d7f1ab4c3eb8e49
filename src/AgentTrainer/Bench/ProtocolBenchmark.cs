using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using AgentTrainer.App.Hosting;
using AgentTrainer.ControlPlane;
using AgentTrainer.ControlPlane.Api;
using AgentTrainer.ControlPlane.Remote;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Training;
using AgentTrainer.Training.Tasks;
using Microsoft.Extensions.Hosting;

namespace AgentTrainer.App.Bench;

/// <summary>The trainer protocol's cost, measured on the PyTorch example (clients/python/examples/train_charlm.py, a
/// real python3 process): its throughput alone over its throughput attached to a host here running the rules agent,
/// in alternating pairs; how many steps a command takes to reach it; and the built-in char-lm's bare TorchSharp loop
/// against the example's bare PyTorch loop (same model, batch, context and threads), in alternating blocks.</summary>
public sealed partial class ProtocolBenchmark(BenchSettings settings, string python, Action<string> report)
{
    private const int Pairs = 3;
    private const int CommandsSent = 20;
    private static readonly TimeSpan CommandPoll = TimeSpan.FromMilliseconds(5);

    public async Task<ProtocolFigures> RunAsync(string folder, int threads)
    {
        string example = Path.Combine(AppContext.BaseDirectory, "clients", "python", "examples", "train_charlm.py");
        string token = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        using IHost host = AgentTrainerHost.Build(new Dictionary<string, string?>
        {
            ["Remote:Enabled"] = "true", ["Training:Out"] = Path.Combine(folder, "remote"), ["Agent:Provider"] = "rules",
            ["ControlPlane:Urls"] = "http://127.0.0.1:0", ["ControlPlane:Token"] = token, ["Logging:LogLevel:Default"] = "Warning",
        }, configFile: null);
        await host.StartAsync().ConfigureAwait(false);
        var server = new Uri(host.Services.ServerAddresses()[0]);
        using var api = new HttpClient { BaseAddress = server };
        api.DefaultRequestHeaders.Authorization = new("Bearer", token);
        int steps = settings.Steps;
        string[] common = [example, "--steps", steps.ToString(CultureInfo.InvariantCulture), "--threads",
            threads.ToString(CultureInfo.InvariantCulture), "--text", settings.TextPath];
        report($"PyTorch example, {threads} threads: {Pairs} pairs of {steps} steps alone and attached to the rules agent here");

        // The host's first requests compile its endpoints: a short attached run first, unmeasured.
        await RunExampleAsync([.. common[..2], "20", .. common[3..], "--server", server.ToString(), "--name", "warm-up",
            "--checkpoints", Path.Combine(folder, "checkpoints", "warm-up")], token).ConfigureAwait(false);
        string[] Attached(string name) => [.. common, "--server", server.ToString(), "--name", name,
            "--checkpoints", Path.Combine(folder, "checkpoints", name)];
        double aloneMs = 0, attachedMs = 0;
        for (int pair = 0; pair < Pairs; pair++)
        {
            aloneMs += await RunExampleAsync([.. common]).ConfigureAwait(false);
            attachedMs += await RunExampleAsync(Attached($"pair-{pair}"), token).ConfigureAwait(false);
        }
        // Commands on a run of their own: watching for fresh report batches costs the host a little.
        Task<double> commanded = RunExampleAsync(Attached("commands"), token);
        List<double> latencies = await SendCommandsAsync(api, "commands", Path.Combine(folder, "remote", "commands"),
            commanded).ConfigureAwait(false);
        report($"alone {aloneMs / Pairs:F1} ms/step, attached {attachedMs / Pairs:F1} ms/step; "
            + $"{latencies.Count} commands, p99 {TrainerBenchmark.Percentile([.. latencies.Order()], 0.99)} steps to apply");
        await host.StopAsync().ConfigureAwait(false);

        (double torchSharpMs, double pyTorchMs) = await CompareBareLoopsAsync(folder, [.. common, "--eval-every", "0"]).ConfigureAwait(false);
        return new ProtocolFigures(attachedMs / aloneMs, TrainerBenchmark.Percentile([.. latencies.Order()], 0.99), latencies.Count,
            aloneMs / Pairs, attachedMs / Pairs, torchSharpMs / pyTorchMs, torchSharpMs, pyTorchMs);
    }

    /// <summary>While the trainer runs: a no-op lr command (factor 1) through the protocol's command endpoint, each
    /// sent just after a report batch arrived (so the host's step is the trainer's, not up to a second behind it);
    /// its latency is the step it was applied at less the step it was submitted at.</summary>
    private static async Task<List<double>> SendCommandsAsync(HttpClient api, string run, string runFolder, Task trainer)
    {
        string path = $"{TrainerProtocol.Prefix}/runs/{run}";
        long lastBatch = -1;
        var sent = new List<string>();
        while (sent.Count < CommandsSent && !trainer.IsCompleted)
        {
            await Task.Delay(CommandPoll).ConfigureAwait(false);
            using HttpResponseMessage state = await api.GetAsync(path).ConfigureAwait(false);
            if (!state.IsSuccessStatusCode)
            {
                continue; // not registered yet
            }
            long batch = (await state.Content.ReadFromJsonAsync<JsonElement>().ConfigureAwait(false))
                .GetProperty("last_batch").GetInt64();
            bool fresh = lastBatch >= 0 && batch != lastBatch;
            lastBatch = batch;
            if (!fresh)
            {
                continue;
            }
            using HttpResponseMessage response = await api.PostAsJsonAsync<TrainerCommand>($"{path}/commands",
                UpdateOptimizerCommand.ScaleLearningRate(1.0), ApiJson.Options).ConfigureAwait(false);
            if (response.IsSuccessStatusCode)
            {
                sent.Add((await response.Content.ReadFromJsonAsync<CommandForTrainer>(ApiJson.Options)
                    .ConfigureAwait(false))!.Id);
            }
        }
        await trainer.ConfigureAwait(false);
        IReadOnlyList<RunEvent> events = RunRecordReader.ReadEvents(runFolder); // complete once the run has ended
        // Those sent as the run ended are cancelled (never applied): only applied ones have a latency.
        Dictionary<string, CommandEvent> applied = events.OfType<CommandEvent>()
            .Where(c => c.Status == CommandStatus.Succeeded).ToDictionary(c => c.Id);
        Dictionary<string, CommandEvent> submitted = events.OfType<CommandEvent>()
            .Where(c => c.Status == CommandStatus.Pending).ToDictionary(c => c.Id);
        return [.. sent.Where(applied.ContainsKey).Select(id => (double)(applied[id].Step - submitted[id].Step))];
    }

    /// <summary>The built-in char-lm's bare loop here against the example's bare loop (no evaluation), in alternating
    /// blocks of the same number of steps; ms/step of each.</summary>
    private async Task<(double TorchSharp, double PyTorch)> CompareBareLoopsAsync(string folder, string[] pyTorch)
    {
        TrainingOptions options = settings.TrainerOptions(Path.Combine(folder, "bare"));
        using var commands = new CommandQueue(TimeProvider.System);
        using var run = new TrainingRun(options, commands, TimeProvider.System);
        using var bare = new BareLoop(TrainingTaskFactory.Create(options, run.Runtime.Device), options);
        bare.Train(settings.WarmupSteps);
        double torchSharpMs = 0, pyTorchMs = 0;
        for (int block = 0; block < Pairs; block++)
        {
            long started = Stopwatch.GetTimestamp();
            bare.Train(settings.Steps);
            torchSharpMs += Stopwatch.GetElapsedTime(started).TotalMilliseconds / settings.Steps;
            pyTorchMs += await RunExampleAsync(pyTorch).ConfigureAwait(false);
        }
        report($"bare loops: TorchSharp {torchSharpMs / Pairs:F1} ms/step, PyTorch {pyTorchMs / Pairs:F1} ms/step");
        return (torchSharpMs / Pairs, pyTorchMs / Pairs);
    }

    /// <summary>Runs the example to the end; the ms/step of its training loop, as it reports it.</summary>
    private async Task<double> RunExampleAsync(string[] arguments, string? token = null)
    {
        var start = new ProcessStartInfo(python) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        if (token is not null)
        {
            start.Environment["AGENTTRAINER_TOKEN"] = token;
        }
        using Process process = Process.Start(start) ?? throw new InvalidOperationException($"{python} did not start.");
        Task<string> error = process.StandardError.ReadToEndAsync();
        string output = await process.StandardOutput.ReadToEndAsync().ConfigureAwait(false);
        await process.WaitForExitAsync().ConfigureAwait(false);
        Match done = MsPerStep().Match(output);
        return process.ExitCode == 0 && done.Success
            ? double.Parse(done.Groups[1].Value, CultureInfo.InvariantCulture)
            : throw new InvalidOperationException($"the PyTorch example failed ({process.ExitCode}):\n{output}{await error.ConfigureAwait(false)}");
    }

    [GeneratedRegex(@"\((\d+\.\d+) ms/step\)")]
    private static partial Regex MsPerStep();
}

/// <param name="OverheadRatio">the example's ms/step attached over alone (throughput alone over attached)</param>
/// <param name="CommandLatencyP99Steps">steps from a command's submission to its application, 99th percentile</param>
/// <param name="TorchSharpOverPyTorch">the built-in char-lm bare loop's ms/step over the example's bare loop's</param>
public sealed record ProtocolFigures(
    double OverheadRatio, double CommandLatencyP99Steps, int CommandsMeasured, double AloneMsPerStep, double AttachedMsPerStep,
    double TorchSharpOverPyTorch, double TorchSharpMsPerStep, double PyTorchMsPerStep);
