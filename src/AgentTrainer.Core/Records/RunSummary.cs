using System.Globalization;
using System.Text.Json.Serialization;
using AgentTrainer.Core.Options;

namespace AgentTrainer.Core.Records;

/// <summary>run.json: written when a run starts (status "running") and again when it ends.</summary>
public sealed record RunSummary
{
    public required string Status { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public DateTimeOffset? FinishedAt { get; init; }
    public required TrainingOptions Configuration { get; init; }
    public required int Seed { get; init; }

    /// <summary>1 for a fresh run; one more each time the run is resumed after being killed or interrupted.</summary>
    public int Session { get; init; } = 1;

    /// <summary>The checkpoint this session resumed from (null in the first session).</summary>
    public string? ResumedFrom { get; init; }
    public required RunEnvironment Environment { get; init; }

    /// <summary>The process training the run (while it runs: a second process on the folder names it).</summary>
    public RunProcess? Process { get; init; }

    /// <summary>Why a failed run failed.</summary>
    public string? Error { get; init; }
    public FinalFigures? Final { get; init; }

    /// <summary>What other parts of the run report about it (e.g. "agent": decisions and interventions).</summary>
    public IReadOnlyDictionary<string, object>? Sections { get; init; }
}

/// <summary>An observer that adds a section to run.json when the run ends.</summary>
public interface IRunSummaryContributor
{
    string SectionName { get; }

    object DescribeRun();
}

public sealed record RunEnvironment(
    string AgentTrainer,
    [property: JsonPropertyName("torchsharp")] string TorchSharp,
    [property: JsonPropertyName("dotnet")] string DotNet,
    string Os,
    string Device,
    int Threads);

public sealed record RunProcess(int Pid, string Host)
{
    public static RunProcess Current => new(System.Environment.ProcessId, System.Environment.MachineName);
}

public sealed record FinalFigures
{
    public required long Steps { get; init; }
    public required int Branches { get; init; }
    public double? FinalTrainLoss { get; init; }
    public double? InitialValLoss { get; init; }
    public double? BestValLoss { get; init; }
    public long? BestValStep { get; init; }
    /// <summary>The validation loss (whole held-out set) of the model the run hands back: see <see cref="ModelCheckpoint"/>.</summary>
    public double? FinalValLoss { get; init; }

    /// <summary>The last state's validation loss (whole held-out set): the same as <see cref="FinalValLoss"/>
    /// unless the best checkpoint was handed back instead.</summary>
    public double? LastValLoss { get; init; }

    /// <summary>The checkpoint holding the weights the run hands back: the last state, or the best.</summary>
    public string? ModelCheckpoint { get; init; }

    /// <summary>The step of <see cref="ModelCheckpoint"/>.</summary>
    public long? ModelStep { get; init; }

    /// <summary>What <see cref="FinalValLoss"/> was measured on (one of <see cref="EvaluationSplits"/>).</summary>
    public string? ValSplit { get; init; }

    /// <summary>The model handed back, as every place that reports a run's end shows it.</summary>
    [JsonIgnore]
    public HandedBackModel? HandedBack => ModelCheckpoint is { } checkpoint && FinalValLoss is { } loss
        ? new HandedBackModel(checkpoint, ModelStep, loss, ValSplit ?? EvaluationSplits.Unknown)
        : null;

    /// <summary>The checkpoint with the best validation loss; always on disk.</summary>
    public string? BestCheckpoint { get; init; }

    /// <summary><see cref="BestCheckpoint"/>'s validation loss on the whole held-out set, measured at the end as
    /// <see cref="FinalValLoss"/> is (<see cref="BestValLoss"/> comes from the periodic, partial evaluations).</summary>
    public double? BestCheckpointValLoss { get; init; }
    public double? FinalAccuracy { get; init; }
    public double? BestAccuracy { get; init; }
    public double? FinalBitsPerChar { get; init; }
    public required int NonFiniteSteps { get; init; }
    public required IReadOnlyDictionary<string, int> CommandsByKind { get; init; }
    public required double WallSeconds { get; init; }
}

/// <summary>The run's one final figure: the checkpoint it hands back, that model's validation loss, and the split
/// the loss was measured on. The console, run.json, the service's run list, the morning report and the Python
/// client all show this record, in words as <see cref="Description"/> words it (sent along in JSON, so a page or
/// a client shows the same words).</summary>
public sealed record HandedBackModel(string Checkpoint, long? Step, double ValLoss, string Split)
{
    public string Description => string.Create(CultureInfo.InvariantCulture,
        $"val_loss {ValLoss:F4} on {Split}, model {Checkpoint}{(Step is { } step ? $" (step {step})" : "")}");
}

/// <summary>What a final validation loss was measured on.</summary>
public static class EvaluationSplits
{
    /// <summary>A built-in run or your own task: the task's whole held-out set, as the best checkpoint is
    /// measured.</summary>
    public const string WholeHeldOut = "the whole held-out set";

    /// <summary>A trainer attached over the protocol: its own evaluate callback, called at the end.</summary>
    public const string TrainersEvaluate = "the trainer's own evaluation";

    /// <summary>A run.json written before the split was recorded.</summary>
    public const string Unknown = "an unrecorded split";
}

/// <summary>How a run ended; also the process exit code's meaning (see RunOutcomes.ExitCode).</summary>
public static class RunOutcomes
{
    public const string Running = "running";
    public const string Completed = "completed";
    public const string Stopped = "stopped";
    public const string Interrupted = "interrupted";
    public const string Diverged = "diverged";

    /// <summary>The budget (trained steps or the deadline) ran out before Steps was reached.</summary>
    public const string OutOfBudget = "out_of_budget";

    /// <summary>Ended by an error (see run.json's "error"); the last disk checkpoint can be resumed.</summary>
    public const string Failed = "failed";

    /// <summary>A remote trainer stopped talking (see the trainer protocol); it may come back as the next session.</summary>
    public const string Lost = "lost";
}
