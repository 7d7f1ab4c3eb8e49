using System.Diagnostics;
using System.Globalization;
using System.Net.Http.Json;
using System.Security.Cryptography;
using System.Text.Json;
using AgentTrainer.App.Hosting;
using AgentTrainer.ControlPlane;
using AgentTrainer.ControlPlane.Api;
using AgentTrainer.ControlPlane.Remote;
using AgentTrainer.Core.Records;
using AgentTrainer.Service;
using AgentTrainer.Service.Runs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace AgentTrainer.App.Bench;

/// <summary>What the service costs a run: one built-in char-lm run (a child process, rules agent) alone, against the
/// same run started by <c>agent-trainer serve</c> (in this process) while four more runs' protocol traffic is replayed
/// at it — each a trainer reporting steps at the PyTorch example's measured rate, an evaluation every 50 steps and a
/// checkpoint every 100, long-polling for commands, under the rules agent — in alternating pairs.</summary>
public sealed class ServiceBenchmark(BenchSettings settings, Action<string> report)
{
    private const int Pairs = 2;
    private const int ReplayedRuns = 4;
    private static readonly TimeSpan BatchEvery = TimeSpan.FromSeconds(1);

    /// <summary>The benchmark alone (<c>bench --only service</c>), in a folder of its own.</summary>
    public ServiceFigures Run(double replayMsPerStep)
    {
        string folder = Path.Combine(Path.GetTempPath(), "agent-trainer-bench-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(folder);
        try
        {
            return RunAsync(folder, replayMsPerStep).GetAwaiter().GetResult();
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    /// <param name="replayMsPerStep">the replayed trainers' step time (the PyTorch example's, attached)</param>
    public async Task<ServiceFigures> RunAsync(string folder, double replayMsPerStep)
    {
        string settingsFile = Path.Combine(folder, "service-run.json");
        await File.WriteAllTextAsync(settingsFile, JsonSerializer.Serialize(new
        {
            Training = new
            {
                Task = "char-lm", settings.Steps, settings.Threads, settings.Seed, EvalEvery = 1_000_000, CheckpointEvery = 0,
                Data = new { TextPath = settings.TextPath },
            },
            Agent = new { Provider = "rules" },
        })).ConfigureAwait(false);
        report($"service: {Pairs} pairs of a {settings.Steps}-step char-lm run alone and under the service with "
            + $"{ReplayedRuns} replayed runs ({replayMsPerStep:F0} ms/step each)");
        double alone = 0, served = 0, serviceCpu = 0;
        for (int pair = 0; pair < Pairs; pair++)
        {
            alone += await AloneAsync(settingsFile, Path.Combine(folder, $"alone-{pair}")).ConfigureAwait(false);
            (double msPerStep, double cpu) = await ServedAsync(settingsFile, Path.Combine(folder, $"served-{pair}"), replayMsPerStep)
                .ConfigureAwait(false);
            served += msPerStep;
            serviceCpu += cpu;
        }
        report($"alone {alone / Pairs:F1} ms/step, under the service {served / Pairs:F1} ms/step; the service process used "
            + $"{serviceCpu / Pairs:F2} s of CPU per second of the run");
        return new ServiceFigures(served / alone, alone / Pairs, served / Pairs, serviceCpu / Pairs);
    }

    private static async Task<double> AloneAsync(string settingsFile, string folder)
    {
        ProcessStartInfo start = new ChildRunStarter().StartInfo(settingsFile, folder, continueRun: false);
        start.RedirectStandardOutput = true;
        start.RedirectStandardError = true;
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync().ConfigureAwait(false);
        return process.ExitCode == 0 ? MsPerStep(folder)
            : throw new InvalidOperationException($"the run failed ({process.ExitCode}): {await output.ConfigureAwait(false)}"
                + await error.ConfigureAwait(false));
    }

    /// <returns>the run's ms/step, and the CPU seconds this process (the service, the replayed trainers) used per
    /// second while it trained</returns>
    private static async Task<(double MsPerStep, double ServiceCpu)> ServedAsync(
        string settingsFile, string root, double replayMsPerStep)
    {
        string token = Convert.ToHexString(RandomNumberGenerator.GetBytes(16));
        using IHost host = AgentTrainerHost.Build(new Dictionary<string, string?>
        {
            ["Remote:Enabled"] = "true", ["Training:Out"] = root, ["Service:RunsRoot"] = root, ["Agent:Provider"] = "rules",
            ["ControlPlane:Urls"] = "http://127.0.0.1:0", ["ControlPlane:Token"] = token, ["Logging:LogLevel:Default"] = "Warning",
        }, configFile: null, web =>
        {
            web.AddRunService();
            web.Services.AddSingleton<IRunStarter, ChildRunStarter>();
        }, app => app.MapRunService());
        await host.StartAsync().ConfigureAwait(false);
        using var api = new HttpClient { BaseAddress = new Uri(host.Services.ServerAddresses()[0]) };
        api.DefaultRequestHeaders.Authorization = new("Bearer", token);
        using var stop = new CancellationTokenSource();
        Task[] replays =
            [.. Enumerable.Range(0, ReplayedRuns).Select(i => ReplayAsync(api, $"replay-{i}", replayMsPerStep, stop.Token))];
        // A long-lived service has compiled its paths long before: a short run first, unmeasured, while the replayed
        // runs attach and report.
        RunIndex index = host.Services.GetRequiredService<RunIndex>();
        using JsonDocument warmUp = JsonDocument.Parse("""{"Training": {"Task": "synthetic", "Steps": 100, "Threads": 1}}""");
        await SubmitAndWaitAsync(api, index, "warm-up", warmUp.RootElement).ConfigureAwait(false);
        using JsonDocument settingsJson = JsonDocument.Parse(await File.ReadAllTextAsync(settingsFile).ConfigureAwait(false));
        TimeSpan cpuBefore = Process.GetCurrentProcess().TotalProcessorTime;
        long started = Stopwatch.GetTimestamp();
        await SubmitAndWaitAsync(api, index, "measured", settingsJson.RootElement).ConfigureAwait(false);
        double cpu = (Process.GetCurrentProcess().TotalProcessorTime - cpuBefore).TotalSeconds
            / Stopwatch.GetElapsedTime(started).TotalSeconds;
        await stop.CancelAsync().ConfigureAwait(false);
        await Task.WhenAll(replays).ConfigureAwait(false);
        await host.StopAsync().ConfigureAwait(false);
        return (MsPerStep(Path.Combine(root, "measured")), cpu);
    }

    private static async Task SubmitAndWaitAsync(HttpClient api, RunIndex index, string name, JsonElement settings)
    {
        using (HttpResponseMessage submitted = await api.PostAsJsonAsync("/api/service/runs", new { name, settings })
            .ConfigureAwait(false))
        {
            submitted.EnsureSuccessStatusCode();
        }
        while (index.Find(name) is not { } run || !RunStates.IsFinal(run.State))
        {
            await Task.Delay(200).ConfigureAwait(false);
        }
    }

    private static double MsPerStep(string folder) => RunRecordReader.ReadSummary(folder)?.Final is { } final && final.Steps > 0
        ? final.WallSeconds * 1000 / final.Steps
        : throw new InvalidOperationException($"{folder} holds no finished run.");

    /// <summary>A trainer's traffic: a report batch a second with the steps it would have trained, an evaluation every
    /// 50 steps and a checkpoint every 100, a long poll for commands, and an outcome for each command it is
    /// sent.</summary>
    private static async Task ReplayAsync(HttpClient operatorApi, string name, double msPerStep, CancellationToken stop)
    {
        using HttpResponseMessage registered = await operatorApi.PostAsJsonAsync($"{TrainerProtocol.Prefix}/runs",
            new RegisterRunRequest(TrainerProtocol.Version, name, "char-lm (replayed)", 10_000_000, ["embed", "blocks.0", "head"],
                new OptimizerSettings("adamw", 1e-3, 0.01, 1.0), new TrainerCapabilities(true, true, true, true), "replay", "cpu"),
            ApiJson.Options, CancellationToken.None).ConfigureAwait(false);
        registered.EnsureSuccessStatusCode();
        RunAttached attached = (await registered.Content.ReadFromJsonAsync<RunAttached>(ApiJson.Options, CancellationToken.None)
            .ConfigureAwait(false))!;
        using var http = new HttpClient { BaseAddress = operatorApi.BaseAddress };
        http.DefaultRequestHeaders.Authorization = new("Bearer", attached.Token);
        string path = $"{TrainerProtocol.Prefix}/runs/{attached.RunId}";
        var owed = new List<string>();
        Task poll = PollAsync(http, path, owed, stop);
        long step = 0, batch = 0;
        int stepsPerBatch = Math.Max(1, (int)Math.Round(BatchEvery.TotalMilliseconds / msPerStep));
        while (!stop.IsCancellationRequested)
        {
            var items = new List<TrainerReport>();
            for (int i = 0; i < stepsPerBatch; i++, step++)
            {
                double loss = 4.5 * Math.Exp(-step / 2000.0) + 1.5;
                items.Add(new StepReport(step, loss, 1e-3, 0.8, Samples: 32, StepMs: msPerStep));
                if ((step + 1) % 50 == 0)
                {
                    items.Add(new EvaluationReport(step + 1, loss + 0.1));
                }
                if ((step + 1) % 100 == 0)
                {
                    items.Add(new CheckpointReport($"{name}-{step + 1}", step + 1, 1_000_000));
                }
            }
            lock (owed)
            {
                items.AddRange(owed.Select(id => new OutcomeReport(id, true, "replayed", step)));
                owed.Clear();
            }
            using (HttpResponseMessage sent = await http.PostAsJsonAsync($"{path}/reports", new ReportBatch(++batch, items),
                ApiJson.Options, CancellationToken.None).ConfigureAwait(false))
            {
                sent.EnsureSuccessStatusCode();
            }
            try
            {
                await Task.Delay(BatchEvery, stop).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        await poll.ConfigureAwait(false);
    }

    private static async Task PollAsync(HttpClient http, string path, List<string> owed, CancellationToken stop)
    {
        var answered = new HashSet<string>(StringComparer.Ordinal);
        while (!stop.IsCancellationRequested)
        {
            try
            {
                CommandsForTrainer? commands = await http.GetFromJsonAsync<CommandsForTrainer>($"{path}/commands?wait_s=5",
                    ApiJson.Options, stop).ConfigureAwait(false);
                lock (owed)
                {
                    owed.AddRange(commands!.Commands.Select(c => c.Id).Where(answered.Add));
                }
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }
}

/// <param name="OverheadRatio">the run's ms/step under the service over alone (throughput alone over served)</param>
/// <param name="ServiceCpuPerSecond">CPU seconds the service process used per second of the served run</param>
public sealed record ServiceFigures(double OverheadRatio, double AloneMsPerStep, double ServedMsPerStep, double ServiceCpuPerSecond);
