using System.Diagnostics;
using AgentTrainer.ControlPlane;
using AgentTrainer.ControlPlane.Live;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Training;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace AgentTrainer.App.Bench;

/// <summary>Throughput with no live-stream clients over throughput with 10 clients reading the SSE
/// stream from the real control plane on loopback, from another process (as browsers would). One
/// trainer, alternating blocks: between blocks (trainer idle) the clients connect or leave, so each
/// block runs with exactly 0 or 10.</summary>
public sealed class StreamBenchmark(BenchSettings settings, Action<string> report)
{
    private const int Clients = 10;
    private const int Block = 10;
    private static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(400);
    private static readonly TimeSpan LastBatch = TimeSpan.FromMilliseconds(new ControlPlaneOptions().StreamFlushMilliseconds + 300);

    public async Task<StreamFigures> RunAsync(string folder)
    {
        TrainingOptions options = settings.TrainerOptions(Path.Combine(folder, "stream"));
        await using WebApplication app = BuildControlPlane();
        await app.StartAsync().ConfigureAwait(false);
        var address = new Uri(app.Services.ServerAddresses()[0]);
        LiveStream stream = app.Services.GetRequiredService<LiveStream>();
        using var commands = new CommandQueue(TimeProvider.System);
        using var run = new TrainingRun(options, commands, TimeProvider.System, app.Services.GetRequiredService<RunMonitor>());
        app.Services.GetRequiredService<ActiveRun>().Attach(new RunHandle(run, null));
        report($"stream overhead: {settings.Steps} steps with no clients and {settings.Steps} with {Clients} SSE clients, alternating blocks of {Block}");

        run.Trainer.Begin();
        run.Trainer.RunUntil(settings.WarmupSteps, CancellationToken.None);
        double quietSeconds = 0, busySeconds = 0, quietCpu = 0, busyCpu = 0;
        int quietSteps = 0, busySteps = 0;
        var blockSeconds = new List<(bool WithClients, double Seconds)>();
        long received = 0;
        await using StreamListeners listeners = StreamListeners.Start(address, Clients, stream);
        // Connect and leave a few times first: the connection path's first uses are JIT-compiled and
        // then recompiled (tiered) on background threads, which would otherwise land in the first busy blocks.
        for (int warmup = 0; warmup < 4; warmup++)
        {
            await listeners.ConnectAsync(Clients).ConfigureAwait(false);
            run.Trainer.RunUntil(run.Trainer.State.Step + 1, CancellationToken.None);
            await Task.Delay(LastBatch).ConfigureAwait(false);
            await listeners.DisconnectAsync().ConfigureAwait(false);
        }
        for (int block = 0; quietSteps < settings.Steps || busySteps < settings.Steps; block++)
        {
            // Alternate which phase goes first in each pair, so a drift in machine speed hits both alike.
            bool withClients = (block % 2 == 0) == (block / 2 % 2 == 0);
            if (withClients)
            {
                await listeners.ConnectAsync(Clients).ConfigureAwait(false);
            }
            // Every block, with clients or not, starts after the same idle pause and is followed by the
            // same wait (the last batch's delivery): an idle trainer's first steps are slower, and that
            // must fall on both phases alike.
            await Task.Delay(Settle).ConfigureAwait(false);
            (double seconds, double cpu) = Train(run, Block);
            await Task.Delay(LastBatch).ConfigureAwait(false);
            blockSeconds.Add((withClients, seconds));
            if (withClients)
            {
                busySeconds += seconds;
                busyCpu += cpu;
                busySteps += Block;
                received += await listeners.DisconnectAsync().ConfigureAwait(false);
            }
            else
            {
                quietSeconds += seconds;
                quietCpu += cpu;
                quietSteps += Block;
            }
        }
        double quiet = quietSteps / quietSeconds, busy = busySteps / busySeconds;
        report($"steps/s: no clients {quiet:F2}, {Clients} clients {busy:F2}; {received / Clients} messages per client; process CPU ms per step {1000 * quietCpu / quietSteps:F1} without, {1000 * busyCpu / busySteps:F1} with clients");
        // Each pair of neighbouring blocks ran under the same machine conditions: the median of their ratios resists slow spells.
        double[] pairs = [.. blockSeconds.Chunk(2).Where(pair => pair.Length == 2)
            .Select(pair => pair.Single(b => b.WithClients).Seconds / pair.Single(b => !b.WithClients).Seconds).Order()];
        return new StreamFigures(quiet / busy, pairs[pairs.Length / 2], quiet, busy, received / Clients, stream.DroppedClients);
    }

    /// <summary>Trains a block; returns its wall time and the CPU time the whole process used meanwhile.</summary>
    private static (double Seconds, double CpuSeconds) Train(TrainingRun run, int steps)
    {
        using var process = Process.GetCurrentProcess();
        TimeSpan cpu = process.TotalProcessorTime;
        long started = Stopwatch.GetTimestamp();
        run.Trainer.RunUntil(run.Trainer.State.Step + steps, CancellationToken.None);
        double seconds = Stopwatch.GetElapsedTime(started).TotalSeconds;
        process.Refresh();
        return (seconds, (process.TotalProcessorTime - cpu).TotalSeconds);
    }

    private static WebApplication BuildControlPlane()
    {
        WebApplicationBuilder builder = WebApplication.CreateBuilder();
        builder.Configuration.Sources.Clear();
        builder.Configuration.AddInMemoryCollection(new Dictionary<string, string?>
        {
            ["ControlPlane:Urls"] = "http://127.0.0.1:0",
            ["ControlPlane:Token"] = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(16)),
        });
        builder.Logging.ClearProviders();
        builder.Services.AddOptions<ControlPlaneOptions>().Bind(builder.Configuration.GetSection(ControlPlaneOptions.Section));
        builder.Services.AddRunMonitoring();
        builder.AddControlPlane();
        WebApplication app = builder.Build();
        app.UseControlPlane();
        return app;
    }

    /// <summary>The clients live in a child process (as a dashboard lives in a browser): this process
    /// only serves them. The child connects and disconnects on command (see <see cref="StreamClientsProcess"/>).</summary>
    private sealed class StreamListeners : IAsyncDisposable
    {
        private readonly Process _child;
        private readonly LiveStream _stream;

        private StreamListeners(Process child, LiveStream stream)
        {
            _child = child;
            _stream = stream;
        }

        public static StreamListeners Start(Uri address, int count, LiveStream stream)
        {
            ProcessStartInfo start = Hosting.SelfCommand.StartInfo(
                ["bench", StreamClientsProcess.CommandName, "--url", address.ToString(), "--clients", count.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
            start.RedirectStandardInput = true;
            start.RedirectStandardOutput = true;
            return new StreamListeners(Process.Start(start)!, stream);
        }

        public async Task ConnectAsync(int count)
        {
            await _child.StandardInput.WriteLineAsync(StreamClientsProcess.Connect).ConfigureAwait(false);
            await _child.StandardInput.FlushAsync().ConfigureAwait(false);
            while (_stream.Clients < count)
            {
                await Task.Delay(5).ConfigureAwait(false);
            }
        }

        /// <summary>Disconnects, and returns the messages the clients read.</summary>
        public async Task<long> DisconnectAsync()
        {
            await _child.StandardInput.WriteLineAsync(StreamClientsProcess.Disconnect).ConfigureAwait(false);
            await _child.StandardInput.FlushAsync().ConfigureAwait(false);
            long read = long.Parse((await _child.StandardOutput.ReadLineAsync().ConfigureAwait(false))!, System.Globalization.CultureInfo.InvariantCulture);
            while (_stream.Clients > 0)
            {
                await Task.Delay(5).ConfigureAwait(false);
            }
            return read;
        }

        public async ValueTask DisposeAsync()
        {
            _child.StandardInput.Close(); // end of input: the child exits
            await _child.WaitForExitAsync().ConfigureAwait(false);
            _child.Dispose();
        }
    }
}

public sealed record StreamFigures(double OverheadRatio, double OverheadRatioMedianPair, double QuietStepsPerS, double BusyStepsPerS, long MessagesPerClient, long DroppedClients);
