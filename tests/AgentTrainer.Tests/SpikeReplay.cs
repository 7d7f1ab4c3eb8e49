using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Records;

namespace AgentTrainer.Tests;

/// <summary>What a sample of your own training must show under the rules agent with an lr spike: the fault struck,
/// the spike broke the run, one rollback went to the checkpoint at the fault's step, and from there the run is the
/// run without the fault, step for step, to the last bit (loss, gradient norm, lr), ending at the same loss.</summary>
internal static class SpikeReplay
{
    public const int Steps = 400;

    /// <summary>A run of a sample (<paramref name="task"/> in <paramref name="assembly"/>) for <see cref="Steps"/>
    /// steps under the rules agent, as the command line runs it; decisions hold the run, so they land where made.</summary>
    public static async Task<string> TrainAsync(string run, string assembly, string task, params string[] more)
    {
        (int exit, string output, string error) = await AgentTrainerProcess.RunAsync(
        [
            "run", "--task-assembly", assembly, "--task", task, "--steps", $"{Steps}", "--threads", "1",
            "--agent", "rules", "--policy", "policies/unattended.yaml", "--pause-while-deciding", "true",
            "--api", "false", "--out", run, .. more,
        ]);
        Assert.True(exit == 0, output + error);
        return run;
    }

    /// <param name="brokenBy">how many times the healthy run's worst loss the spike's worst is, at least, over
    /// <paramref name="window"/> steps after it</param>
    public static void AssertRolledBackAndReplayed(string healthy, string faulty, int faultStep, double brokenBy, int window)
    {
        IReadOnlyList<RunEvent> events = RunRecordReader.ReadEvents(faulty);
        Assert.Contains(events, e => e is FaultInjectedEvent { Step: var step } && step == faultStep);
        BranchCreatedEvent branch = Assert.Single(events.OfType<BranchCreatedEvent>());
        Assert.Equal(($"ckpt-{faultStep:D6}-b0", (long)faultStep), (branch.CheckpointId, branch.ForkStep));
        double spiked = StepsOf(faulty, 0, faultStep + 1, faultStep + window).Max(s => s.Loss);
        double healthiest = StepsOf(healthy, 0, faultStep, faultStep + window).Max(s => s.Loss);
        Assert.True(spiked > brokenBy * healthiest, "the spike broke the run");

        StepMetrics[] replay = StepsOf(faulty, branch.Branch, faultStep, Steps);
        Assert.Equal(Steps - faultStep, replay.Length);
        Assert.Equal(StepsOf(healthy, 0, faultStep, Steps).Select(s => (s.Loss, s.GradNorm, s.LearningRate)),
            replay.Select(s => (s.Loss, s.GradNorm, s.LearningRate)));
        Assert.Equal(RunRecordReader.ReadSummary(healthy)!.Final!.FinalValLoss, RunRecordReader.ReadSummary(faulty)!.Final!.FinalValLoss);
    }

    public static StepMetrics[] StepsOf(string run, int branch, long from, long to) =>
        [.. RunRecordReader.ReadMetrics(run).Steps.Where(s => s.Branch == branch && s.Step >= from && s.Step < to)];
}
