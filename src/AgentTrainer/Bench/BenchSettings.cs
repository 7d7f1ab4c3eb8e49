using AgentTrainer.Core.Options;

namespace AgentTrainer.App.Bench;

/// <summary>What the benchmark runs: the default char-lm model and data, with the interactive
/// trainer's default cadences (metrics every step, in-memory snapshot every 50 steps).
/// Evaluation and disk checkpoints are left out: the bare loop has neither.</summary>
public sealed record BenchSettings(int Steps, int WarmupSteps, int LatencySteps, int Threads, int Seed, string TextPath)
{
    public TrainingOptions TrainerOptions(string outputFolder) => new()
    {
        Task = TaskNames.CharLm,
        Steps = (WarmupSteps + Steps + LatencySteps) * 10,
        Seed = Seed,
        Threads = Threads,
        Device = DeviceNames.Auto,
        EvalEvery = int.MaxValue,
        CheckpointEvery = 0,
        Out = outputFolder,
        Data = new DataOptions { TextPath = TextPath },
    };
}
