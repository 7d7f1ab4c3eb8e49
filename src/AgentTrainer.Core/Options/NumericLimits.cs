namespace AgentTrainer.Core.Options;

/// <summary>The largest values a run takes. Each is far beyond any useful setting and well inside
/// what the machine can do: libtorch computes with float32 (an lr of 1e39 overflows it and kills the
/// step), a thread per core is all libtorch can use (100,000 threads hang it), and a model or a batch
/// past these sizes does not fit a machine's memory.</summary>
public static class NumericLimits
{
    public const double MaxLearningRate = 1e3;
    public const double MaxWeightDecay = 1e3;
    public const double MaxGradClip = 1e6;

    /// <summary>The most a factor (a fault's, a command's lr factor) may scale by: 1e6 already diverges any run.</summary>
    public const double MaxScaleFactor = 1e6;
    /// <summary>The most batches one skip_data may pass over (PaLM's repairs skipped at most 500).</summary>
    public const long MaxSkippedBatches = 1_000_000;
    public const int MaxBatchSize = 65_536;
    public const int MaxContextLength = 4_096;
    public const int MaxEmbeddingSize = 8_192;
    public const int MaxLayers = 256;
    public const int MaxSnapshotsKept = 100_000;

    /// <summary>libtorch threads allowed per core (more only adds contention).</summary>
    public const int ThreadsPerCore = 4;

    public static int MaxThreads => ThreadsPerCore * Environment.ProcessorCount;
}
