using System.Diagnostics;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Training;
using AgentTrainer.Training.Checkpoints;
using AgentTrainer.Training.Tasks;

namespace AgentTrainer.App.Bench;

/// <summary>Measures the interactive trainer against a bare loop, side by side in one process:
/// throughput overhead, rollback cost beside raw copies, and command latency.</summary>
public sealed class TrainerBenchmark(BenchSettings settings, string python, Action<string> report)
{
    public BenchFigures Run()
    {
        string folder = Path.Combine(Path.GetTempPath(), "agent-trainer-bench-" + Guid.NewGuid().ToString("N"));
        try
        {
            return Measure(folder);
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    private BenchFigures Measure(string folder)
    {
        TrainingOptions options = settings.TrainerOptions(Path.Combine(folder, "run"));
        using var commands = new CommandQueue(TimeProvider.System);
        using var run = new TrainingRun(options, commands, TimeProvider.System);
        using var bare = new BareLoop(TrainingTaskFactory.Create(options, run.Runtime.Device), options);
        report($"char-lm, {run.Runtime.Description}; {settings.Steps} steps of each loop, alternating step by step after {settings.WarmupSteps} warm-up steps");

        // Alternating single steps pairs every trainer step with a bare step taken a moment
        // before, so a slow spell on a shared machine slows both alike.
        run.Trainer.Begin();
        double bareSeconds = 0, trainerSeconds = 0;
        var pairRatios = new List<double>();
        long trainerStep = 0;
        for (int step = 0; step < settings.WarmupSteps + settings.Steps; step++)
        {
            double bareStep = Time(() => bare.Train(1));
            long limit = ++trainerStep;
            double trainerStepTime = Time(() => run.Trainer.RunUntil(limit, CancellationToken.None));
            if (step >= settings.WarmupSteps)
            {
                bareSeconds += bareStep;
                trainerSeconds += trainerStepTime;
                pairRatios.Add(trainerStepTime / bareStep);
            }
        }
        double bareRate = settings.Steps / bareSeconds, trainerRate = settings.Steps / trainerSeconds;
        report($"bare {bareRate:F2} steps/s, trainer {trainerRate:F2} steps/s");

        (double p50, double p99, double p99Steps, int count) = MeasureCommandLatency(run, commands, trainerStep);
        RollbackFigures rollback = MeasureRollback(bare, folder);
        run.Trainer.Finish(Core.Records.RunOutcomes.Completed);
        (double agentRules, double agentSlow, int decisions) = new AgentBenchmark(settings, report).RunAsync(folder).GetAwaiter().GetResult();
        StreamFigures stream = new StreamBenchmark(settings, report).RunAsync(folder).GetAwaiter().GetResult();
        (double ownLoop, double ownLoopMedian) = new OwnLoopBenchmark(settings, report).Run(folder);
        ProtocolFigures protocol = new ProtocolBenchmark(settings, python, report).RunAsync(folder, run.Runtime.Threads)
            .GetAwaiter().GetResult();
        ServiceFigures service = new ServiceBenchmark(settings, report).RunAsync(folder, protocol.AttachedMsPerStep)
            .GetAwaiter().GetResult();

        return new BenchFigures
        {
            TrainerOverheadRatio = Math.Round(bareRate / trainerRate, 4),
            TrainerOverheadRatioMedianPair = Math.Round(Percentile([.. pairRatios.Order()], 0.5), 4),
            BareStepsPerS = Math.Round(bareRate, 3),
            OwnLoopOverheadRatio = Math.Round(ownLoop, 4),
            OwnLoopOverheadRatioMedianPair = Math.Round(ownLoopMedian, 4),
            ProtocolOverheadRatio = Math.Round(protocol.OverheadRatio, 4),
            ServiceOverheadRatio = Math.Round(service.OverheadRatio, 4),
            ServiceAloneMsPerStep = Math.Round(service.AloneMsPerStep, 2),
            ServiceServedMsPerStep = Math.Round(service.ServedMsPerStep, 2),
            ProtocolCommandLatencyP99Steps = protocol.CommandLatencyP99Steps,
            ProtocolCommandsMeasured = protocol.CommandsMeasured,
            PytorchAloneMsPerStep = Math.Round(protocol.AloneMsPerStep, 2),
            PytorchAttachedMsPerStep = Math.Round(protocol.AttachedMsPerStep, 2),
            TorchsharpVsPytorchStepRatio = Math.Round(protocol.TorchSharpOverPyTorch, 4),
            TorchsharpBareMsPerStep = Math.Round(protocol.TorchSharpMsPerStep, 2),
            PytorchBareMsPerStep = Math.Round(protocol.PyTorchMsPerStep, 2),
            TrainerStepsPerS = Math.Round(trainerRate, 3),
            MeasuredSteps = settings.Steps,
            CheckpointBytes = rollback.Bytes,
            RollbackMemoryMs = rollback.MemoryMs,
            MemoryCopyMs = rollback.CopyMs,
            RollbackDiskMs = rollback.DiskMs,
            DiskReadMs = rollback.ReadMs,
            CommandLatencyP50Ms = Math.Round(p50, 3),
            CommandLatencyP99Ms = Math.Round(p99, 3),
            CommandLatencyP99Steps = p99Steps,
            CommandsMeasured = count,
            AgentOverheadRatioRules = Math.Round(agentRules, 4),
            AgentOverheadRatioSlowModel = Math.Round(agentSlow, 4),
            AgentDecisions = decisions,
            StreamOverheadRatio = Math.Round(stream.OverheadRatio, 4),
            StreamOverheadRatioMedianPair = Math.Round(stream.OverheadRatioMedianPair, 4),
            StreamMessagesPerClient = stream.MessagesPerClient,
            StreamDroppedClients = stream.DroppedClients,
            Device = run.Runtime.Description,
        };
    }

    /// <summary>Submits commands from another thread at random moments while the trainer runs;
    /// latency is from submission to applied (succeeded), in milliseconds and in steps.</summary>
    private (double P50, double P99, double P99Steps, int Count) MeasureCommandLatency(TrainingRun run, CommandQueue commands, long fromStep)
    {
        var submitted = new List<(CommandRecord Record, long Step)>();
        using var done = new CancellationTokenSource();
        var submitter = Task.Run(async () =>
        {
            var random = new Random(settings.Seed);
            while (!done.IsCancellationRequested)
            {
                await Task.Delay(random.Next(20, 150)).ConfigureAwait(false);
                long step = run.Trainer.State.Step;
                lock (submitted)
                {
                    submitted.Add((commands.Submit(UpdateOptimizerCommand.ScaleLearningRate(1.0), CommandSource.Api), step));
                }
            }
        });
        run.Trainer.RunUntil(fromStep + settings.LatencySteps, CancellationToken.None);
        done.Cancel();
        submitter.Wait();
        run.Trainer.RunUntil(fromStep + settings.LatencySteps + 1, CancellationToken.None); // applies the last ones
        var applied = submitted.Where(entry => entry.Record.Status == CommandStatus.Succeeded).ToList();
        double[] milliseconds = [.. applied.Select(entry =>
            (entry.Record.History[^1].At - entry.Record.History[0].At).TotalMilliseconds).Order()];
        double[] steps = [.. applied.Select(entry => (double)(entry.Record.History[^1].Step!.Value - entry.Step)).Order()];
        return (Percentile(milliseconds, 0.5), Percentile(milliseconds, 0.99), Percentile(steps, 0.99), applied.Count);
    }

    private static RollbackFigures MeasureRollback(BareLoop bare, string folder)
    {
        var position = new TrainerPosition(0, 0, 0, 1e-3, 0.01, 1.0);
        byte[] payload = CheckpointSerializer.Capture(position, bare.Model, bare.Optimizer);
        string path = Path.Combine(folder, "bench" + CheckpointFile.Extension);
        CheckpointFile.Write(path, payload);
        const int Repeats = 15;
        double memory = Median(Repeats, () => CheckpointSerializer.Restore(payload, bare.Model, bare.Optimizer));
        byte[] destination = new byte[payload.Length];
        double copy = Median(Repeats, () => payload.AsSpan().CopyTo(destination));
        double disk = Median(Repeats, () => CheckpointSerializer.Restore(CheckpointFile.Read(path), bare.Model, bare.Optimizer));
        double read = Median(Repeats, () => File.ReadAllBytes(path));
        return new RollbackFigures(payload.Length, Math.Round(memory, 3), Math.Round(copy, 3), Math.Round(disk, 3), Math.Round(read, 3));
    }

    private static double Time(Action action)
    {
        long started = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(started).TotalSeconds;
    }

    private static double Median(int repeats, Action action)
    {
        action(); // warm-up
        double[] times = [.. Enumerable.Range(0, repeats).Select(_ => Time(action) * 1000).Order()];
        return times[repeats / 2];
    }

    internal static double Percentile(double[] sorted, double fraction) =>
        sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(fraction * sorted.Length) - 1)];

    private sealed record RollbackFigures(long Bytes, double MemoryMs, double CopyMs, double DiskMs, double ReadMs);
}
