using System.Diagnostics;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Schedules;
using AgentTrainer.Samples.CharMlpLoop;
using AgentTrainer.Training;
using AgentTrainer.Training.Loops;
using AgentTrainer.Training.Tasks;
using AgentTrainer.Training.Trainer;

namespace AgentTrainer.App.Bench;

/// <summary>The cost of attaching a session to your own loop: the own-loop sample's loop bare against the same loop
/// reporting each step to a <see cref="TrainingSession"/> (records, state, snapshots, command boundary), alternating
/// step by step in one process, each with its own copy of the model from the same seed.</summary>
public sealed class OwnLoopBenchmark(BenchSettings settings, Action<string> report)
{
    /// <summary>The sample's step is short (a few ms): more of them make a measurement as long as the
    /// trainer's.</summary>
    private const int StepsPerTrainerStep = 10;

    /// <returns>bare steps/s over session steps/s, and the median over step pairs of the same ratio</returns>
    public (double Ratio, double MedianPair) Run(string folder)
    {
        TrainingOptions options = settings.TrainerOptions(Path.Combine(folder, "own-loop"));
        options.Task = CharMlpLoopProvider.LoopName;
        options.TaskSettings["text"] = settings.TextPath;
        var provider = new CharMlpLoopProvider();
        using var commands = new CommandQueue(TimeProvider.System);
        using var run = new TrainingRun(options, commands, TimeProvider.System, new TaskCatalog([], [provider]));
        var context = new TaskContext(run.Runtime.Device, options.Seed, options.BatchSize, options.TaskSettings);
        using ITrainingLoop bareLoop = provider.Create(context);
        var bare = (CharMlpLoop)bareLoop;
        var attached = (CharMlpLoop)run.Loop!;
        // The bare loop sets its own lr from the same schedule and takes the same update as the session's
        // StepOptimizer.
        var bareOptimizer = new OptimizerControl(bare.Optimizer);
        var schedule = new LearningRateSchedule(options.Schedule, options.Steps, options.WarmupSteps);
        int warmup = settings.WarmupSteps * StepsPerTrainerStep, measured = settings.Steps * StepsPerTrainerStep;
        report($"{CharMlpLoopProvider.LoopName} (own-loop sample), {run.Runtime.Description}; {measured} steps of "
            + $"each loop, alternating step by step after {warmup} warm-up steps");

        TrainingSession session = run.BeginLoop(CancellationToken.None);
        double bareSeconds = 0, sessionSeconds = 0;
        var pairRatios = new List<double>();
        for (int step = 0; step < warmup + measured; step++)
        {
            double bareStep = Time(() =>
            {
                bareOptimizer.SetLearningRate(options.LearningRate * schedule.Multiplier(step));
                bare.TrainStep(options.GradClip, bareOptimizer.Step);
            });
            double sessionStep = Time(() =>
            {
                (double loss, double gradNorm) = attached.TrainStep(session.GradClip, session.StepOptimizer);
                session.Step(loss, attached.BatchSize, gradNorm);
            });
            if (step >= warmup)
            {
                bareSeconds += bareStep;
                sessionSeconds += sessionStep;
                pairRatios.Add(sessionStep / bareStep);
            }
        }
        run.Trainer.Finish(RunOutcomes.Completed);
        report($"bare loop {measured / bareSeconds:F2} steps/s, "
            + $"with the session {measured / sessionSeconds:F2} steps/s");
        pairRatios.Sort();
        return (sessionSeconds / bareSeconds, pairRatios[pairRatios.Count / 2]);
    }

    private static double Time(Action action)
    {
        long started = Stopwatch.GetTimestamp();
        action();
        return Stopwatch.GetElapsedTime(started).TotalSeconds;
    }
}
