using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Records;

namespace AgentTrainer.Tests;

/// <summary>What a sample of your own training must show under the rules agent with an lr spike: the fault struck,
/// the spike broke the run, one rollback went to the checkpoint at the fault's step, and from there the run is the
/// run without the fault, step for step, to the last bit (loss, gradient norm, lr), ending at the same loss.</summary>
internal static class SpikeReplay
{
    /// <param name="brokenBy">how many times the healthy run's worst loss the spike's worst is, at least, over
    /// <paramref name="window"/> steps after it</param>
    public static void AssertRolledBackAndReplayed(string healthy, string faulty, int faultStep, int steps, double brokenBy, int window)
    {
        IReadOnlyList<RunEvent> events = RunRecordReader.ReadEvents(faulty);
        Assert.Contains(events, e => e is FaultInjectedEvent { Step: var step } && step == faultStep);
        BranchCreatedEvent branch = Assert.Single(events.OfType<BranchCreatedEvent>());
        Assert.Equal(($"ckpt-{faultStep:D6}-b0", (long)faultStep), (branch.CheckpointId, branch.ForkStep));
        double spiked = Steps(faulty, 0, faultStep + 1, faultStep + window).Max(s => s.Loss);
        Assert.True(spiked > brokenBy * Steps(healthy, 0, faultStep, faultStep + window).Max(s => s.Loss), "the spike broke the run");

        StepMetrics[] replay = Steps(faulty, branch.Branch, faultStep, steps);
        Assert.Equal(steps - faultStep, replay.Length);
        Assert.Equal(Steps(healthy, 0, faultStep, steps).Select(s => (s.Loss, s.GradNorm, s.LearningRate)),
            replay.Select(s => (s.Loss, s.GradNorm, s.LearningRate)));
        Assert.Equal(RunRecordReader.ReadSummary(healthy)!.Final!.FinalValLoss, RunRecordReader.ReadSummary(faulty)!.Final!.FinalValLoss);
    }

    public static StepMetrics[] Steps(string run, int branch, long from, long to) =>
        [.. RunRecordReader.ReadMetrics(run).Steps.Where(s => s.Branch == branch && s.Step >= from && s.Step < to)];
}
