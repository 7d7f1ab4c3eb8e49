namespace AgentTrainer.App.Bench;

/// <summary>The benchmark's JSON output (snake_case names).</summary>
public sealed record BenchFigures
{
    /// <summary>Bare-loop steps/s over interactive-trainer steps/s (goal: at most 1.03).</summary>
    public required double TrainerOverheadRatio { get; init; }

    /// <summary>Median over step pairs of trainer step time over bare step time: robust to outliers.</summary>
    public required double TrainerOverheadRatioMedianPair { get; init; }
    public required double BareStepsPerS { get; init; }

    /// <summary>Your own loop (the own-loop sample) bare, steps/s, over the same loop with a session attached
    /// (goal: at most 1.03).</summary>
    public required double OwnLoopOverheadRatio { get; init; }

    /// <summary>Median over step pairs of the same ratio.</summary>
    public required double OwnLoopOverheadRatioMedianPair { get; init; }
    /// <summary>The PyTorch example's throughput alone over its throughput attached over the trainer protocol to a
    /// host running the rules agent (goal: at most 1.03).</summary>
    public required double ProtocolOverheadRatio { get; init; }

    /// <summary>A built-in run's ms/step started by the service while 4 more runs' protocol traffic is replayed at the
    /// service, over the same run alone (goal: at most 1.03).</summary>
    public required double ServiceOverheadRatio { get; init; }
    public required double ServiceAloneMsPerStep { get; init; }
    public required double ServiceServedMsPerStep { get; init; }

    /// <summary>Steps from a command's submission to its application in the PyTorch example, 99th percentile (goal:
    /// at most 1).</summary>
    public required double ProtocolCommandLatencyP99Steps { get; init; }
    public required int ProtocolCommandsMeasured { get; init; }
    public required double PytorchAloneMsPerStep { get; init; }
    public required double PytorchAttachedMsPerStep { get; init; }

    /// <summary>The built-in char-lm's bare TorchSharp loop's ms/step over the PyTorch example's bare loop's (same
    /// model, batch, context and threads): below 1, the .NET trainer is faster.</summary>
    public required double TorchsharpVsPytorchStepRatio { get; init; }
    public required double TorchsharpBareMsPerStep { get; init; }
    public required double PytorchBareMsPerStep { get; init; }
    public required double TrainerStepsPerS { get; init; }
    public required int MeasuredSteps { get; init; }
    public required long CheckpointBytes { get; init; }
    public required double RollbackMemoryMs { get; init; }
    public required double MemoryCopyMs { get; init; }
    public required double RollbackDiskMs { get; init; }
    public required double DiskReadMs { get; init; }
    public required double CommandLatencyP50Ms { get; init; }
    public required double CommandLatencyP99Ms { get; init; }
    public required double CommandLatencyP99Steps { get; init; }
    public required int CommandsMeasured { get; init; }
    /// <summary>Steps/s with no agent over steps/s with the rules agent asked every 10 steps (goal: at most 1.02).</summary>
    public required double AgentOverheadRatioRules { get; init; }

    /// <summary>The same with a loopback model that answers after 200 ms (goal: at most 1.02).</summary>
    public required double AgentOverheadRatioSlowModel { get; init; }
    public required int AgentDecisions { get; init; }

    /// <summary>Steps/s with no live-stream clients over steps/s with 10 SSE clients on loopback (goal: at most 1.02).</summary>
    public required double StreamOverheadRatio { get; init; }

    /// <summary>Median over neighbouring block pairs of the same ratio: robust to slow spells.</summary>
    public required double StreamOverheadRatioMedianPair { get; init; }

    /// <summary>Messages each stream client read during its blocks (shows they were really fed).</summary>
    public required long StreamMessagesPerClient { get; init; }
    public required long StreamDroppedClients { get; init; }
    public required string Device { get; init; }
}
