namespace AgentTrainer.Core.Options;

/// <summary>One training run's settings: the "Training" section of appsettings.json, overridable by
/// environment variables (AGENTTRAINER_Training__Steps) and command-line options (--steps).</summary>
public sealed class TrainingOptions
{
    public const string Section = "Training";

    /// <summary>fashion-mnist, char-lm or synthetic.</summary>
    public string Task { get; set; } = TaskNames.CharLm;

    /// <summary>A built .NET assembly holding your own tasks (public task providers); their names join --task's.</summary>
    public string TaskAssembly { get; set; } = "";

    /// <summary>Your own task's settings, handed to it as they are (Training:TaskSettings:KEY).</summary>
    public Dictionary<string, string> TaskSettings { get; set; } = new(StringComparer.Ordinal);

    /// <summary>Model for the task: fashion-mnist: mlp or cnn; char-lm: gpt; synthetic: mlp. Empty picks the task's default.</summary>
    public string Model { get; set; } = "";

    public int Steps { get; set; } = 600;

    /// <summary>The most optimizer steps the run may take in all, across branches: rolled-back steps count.
    /// 0: twice <see cref="Steps"/>. The run ends ("out_of_budget") when it is spent.</summary>
    public long MaxTrainedSteps { get; set; }

    /// <summary>When the run must be done: an ISO 8601 date and time, or a local time of day ("07:00": the
    /// first after the run first started). Empty: no deadline. See <see cref="RunBudget"/>.</summary>
    public string Deadline { get; set; } = "";

    /// <summary>Hand back the best model: at the end, restore the checkpoint with the best validation loss
    /// when it beats the last state on the whole held-out set. Null: when an agent supervises the run.</summary>
    public bool? LoadBestAtEnd { get; set; }

    /// <summary>Examples (or sequences) per step; 0 picks the task's default.</summary>
    public int BatchSize { get; set; }

    public double LearningRate { get; set; } = 1e-3;

    /// <summary>adamw or sgd.</summary>
    public string Optimizer { get; set; } = OptimizerNames.AdamW;

    public double WeightDecay { get; set; } = 0.01;

    /// <summary>SGD momentum (ignored by AdamW).</summary>
    public double Momentum { get; set; } = 0.9;

    /// <summary>constant, linear or cosine (decay to zero over Steps, after WarmupSteps).</summary>
    public string Schedule { get; set; } = ScheduleNames.Cosine;

    public int WarmupSteps { get; set; }

    /// <summary>Global gradient-norm clipping threshold; 0 turns clipping off.</summary>
    public double GradClip { get; set; } = 1.0;

    public int Seed { get; set; } = 1;

    /// <summary>CPU threads for libtorch; 0 uses every core. Results are reproducible for a given seed and thread count.</summary>
    public int Threads { get; set; }

    /// <summary>auto (cuda when available, else cpu), cpu or cuda.</summary>
    public string Device { get; set; } = DeviceNames.Auto;

    public int EvalEvery { get; set; } = 100;

    /// <summary>Validation batches per evaluation (0: the whole validation set).</summary>
    public int EvalBatches { get; set; } = 20;

    /// <summary>Start paused: nothing trains until a resume command (look before it trains).</summary>
    public bool StartPaused { get; set; }

    /// <summary>Write one metrics line every this many steps.</summary>
    public int LogEvery { get; set; } = 1;

    /// <summary>Keep an in-memory checkpoint every this many steps, for fast rollback (0: none).</summary>
    public int SnapshotEvery { get; set; } = 50;

    /// <summary>How many in-memory checkpoints to keep (oldest dropped first).</summary>
    public int SnapshotsKept { get; set; } = 8;

    /// <summary>Write a checkpoint to disk every this many steps (0: only when asked and at the end).</summary>
    public int CheckpointEvery { get; set; } = 200;

    /// <summary>Disk checkpoints kept: older ones are deleted, but never the first (step 0), the one
    /// with the best validation loss or the latest. 0 keeps every one.</summary>
    public int CheckpointsKept { get; set; } = 5;

    /// <summary>Stop the run as diverged after this many consecutive non-finite losses.</summary>
    public int MaxConsecutiveNonFinite { get; set; } = 50;

    /// <summary>The run's output folder: metrics.jsonl, events.jsonl, run.json, checkpoints/.</summary>
    public string Out { get; set; } = "runs/latest";

    /// <summary>What to do with a run already in <see cref="Out"/> (see <see cref="ExistingRunModes"/>).</summary>
    public string ExistingRun { get; set; } = ExistingRunModes.ResumeUnfinished;

    public DataOptions Data { get; set; } = new();

    public CharLmOptions CharLm { get; set; } = new();

    /// <summary>Guards the trainer applies at every step itself, with or without an agent.</summary>
    public TrainerGuardOptions Guards { get; set; } = new();

    /// <summary>Faults injected into the run, to create the instabilities an agent must repair.</summary>
    public List<FaultOptions> Faults { get; set; } = [];
}

public sealed class DataOptions
{
    /// <summary>Folder with the Fashion-MNIST IDX files (gzip'd or not). Debian's dataset-fashion-mnist installs them here.</summary>
    public string FashionMnistDir { get; set; } = "/usr/share/datasets/fashion-mnist";

    /// <summary>A text file or a folder of text files for char-lm. Debian's fortunes package installs its corpus here.</summary>
    public string TextPath { get; set; } = "/usr/share/games/fortunes";

    /// <summary>char-lm: evaluate on the held-out tenth of this text instead of the corpus's own (empty: the corpus's).
    /// Added to the training mixture later, only its other nine tenths are trained on.</summary>
    public string EvalTextPath { get; set; } = "";

    /// <summary>A folder whose new files are folded into the training mixture (weight <see cref="WatchWeight"/>) at the
    /// next step boundary that is a multiple of 10: deployment data arriving during training. A relative path is
    /// inside the run's folder. Empty: none. Move finished files in (a file half written would be read half).</summary>
    public string WatchFolder { get; set; } = "";

    public double WatchWeight { get; set; } = 1;
}

/// <summary>Step-level guards (Training:Guards): they act inside the step, before any agent could see it, and
/// their state (the loss average, the recent gradient norms) is part of every checkpoint.</summary>
public sealed class TrainerGuardOptions
{
    /// <summary>A batch whose loss is this many times the moving average of recent trained losses is not
    /// trained on: counted, reported (a batch_skipped event) and passed over, as metaseq does. 0: off.</summary>
    public double SkipBatchLossFactor { get; set; }

    /// <summary>Batches the loss guard passes over in a row before it gives way and trains: a loss that stays that
    /// high is the run's new level (an lr spike, new data), not a bad shard, and must not starve it.</summary>
    public int SkipBatchMaxConsecutive { get; set; } = 50;

    /// <summary>Adaptive clipping: before every step the clipping threshold is set to this percentile of the
    /// gradient norms of the last <see cref="GradNormWindow"/> trained steps. 0: off (the threshold is
    /// <see cref="TrainingOptions.GradClip"/>, or what commands set).</summary>
    public double AdaptiveGradClipPercentile { get; set; }

    /// <summary>The trained steps whose gradient norms the adaptive threshold (and the grad_clip_percentile
    /// command) is taken from. Long, as AutoClip keeps the whole history: a short window fills with a bad burst's
    /// norms and the threshold rises with them (measured: with 100 steps, a burst of 30 corrupt batches pushed the
    /// 90th percentile up and the run ended 28% worse than at a fixed threshold).</summary>
    public int GradNormWindow { get; set; } = 1000;
}

public sealed class CharLmOptions
{
    public int ContextLength { get; set; } = 64;
    public int EmbeddingSize { get; set; } = 128;
    public int Layers { get; set; } = 2;
    public int Heads { get; set; } = 4;
}

/// <summary>One injected fault. Kinds: lr-spike (Factor), corrupt-batches (Count),
/// scale-layer (Layer, Factor), zero-layer (Layer), data-arrives (Path: a text file copied into the run's
/// incoming/ folder: new data, for a run that watches that folder).</summary>
public sealed class FaultOptions
{
    public string Kind { get; set; } = "";
    public int Step { get; set; }
    public double Factor { get; set; } = 1;
    public int Count { get; set; } = 1;
    public string Layer { get; set; } = "";
    public string Path { get; set; } = "";
}

/// <summary>The names of the tasks registered beside the built-in ones (your own: see the Training project's
/// ITrainingTaskProvider), so settings naming one are valid.</summary>
public sealed record OwnTaskNames(IReadOnlyList<string> Names)
{
    public static readonly OwnTaskNames None = new([]);
}

public static class TaskNames
{
    public const string FashionMnist = "fashion-mnist";
    public const string CharLm = "char-lm";
    public const string Synthetic = "synthetic";
    public static readonly string[] All = [FashionMnist, CharLm, Synthetic];
}

public static class OptimizerNames
{
    public const string AdamW = "adamw";
    public const string Sgd = "sgd";
    public static readonly string[] All = [AdamW, Sgd];
}

public static class ScheduleNames
{
    public const string Constant = "constant";
    public const string Linear = "linear";
    public const string Cosine = "cosine";
    public static readonly string[] All = [Constant, Linear, Cosine];
}

public static class DeviceNames
{
    public const string Auto = "auto";
    public const string Cpu = "cpu";
    public const string Cuda = "cuda";
    public static readonly string[] All = [Auto, Cpu, Cuda];
}

public static class ModelNames
{
    public const string Mlp = "mlp";
    public const string Cnn = "cnn";
    public const string Gpt = "gpt";

    public static string[] ForTask(string task) => task switch
    {
        TaskNames.FashionMnist => [Mlp, Cnn],
        TaskNames.CharLm => [Gpt],
        _ => [Mlp],
    };
}

/// <summary>What a run does with a run already in its folder. Nothing is ever deleted: "new" moves the
/// old run's records into the folder's archive/.</summary>
public static class ExistingRunModes
{
    /// <summary>Continue a run that was killed or interrupted; refuse a completed, stopped, diverged or failed one.</summary>
    public const string ResumeUnfinished = "resume-unfinished";

    /// <summary>Continue whatever run is there (extend a completed one when Steps is above its end).</summary>
    public const string Resume = "resume";

    /// <summary>Move the run there into archive/ and start afresh.</summary>
    public const string New = "new";
    public static readonly string[] All = [ResumeUnfinished, Resume, New];
}

public static class FaultKinds
{
    public const string LrSpike = "lr-spike";
    public const string CorruptBatches = "corrupt-batches";
    public const string ScaleLayer = "scale-layer";
    public const string ZeroLayer = "zero-layer";
    public const string DataArrives = "data-arrives";
    public static readonly string[] All = [LrSpike, CorruptBatches, ScaleLayer, ZeroLayer, DataArrives];

    /// <summary>The folder of the run's own a data-arrives fault copies into (inside the run's folder).</summary>
    public const string IncomingFolder = "incoming";
}
