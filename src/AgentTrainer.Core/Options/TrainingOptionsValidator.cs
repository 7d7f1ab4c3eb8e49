using Microsoft.Extensions.Options;

namespace AgentTrainer.Core.Options;

/// <summary>Checks a run's settings at start-up. Each message names the command-line option, the
/// configuration key and the allowed values, so a user can fix it from either place.</summary>
/// <param name="ownTasks">tasks registered beside the built-in ones (none when null)</param>
public sealed class TrainingOptionsValidator(OwnTaskNames? ownTasks = null) : IValidateOptions<TrainingOptions>
{
    private readonly IReadOnlyList<string> _ownTasks = (ownTasks ?? OwnTaskNames.None).Names;

    public ValidateOptionsResult Validate(string? name, TrainingOptions options)
    {
        var errors = new List<string>();
        void OneOf(string option, string key, string value, string[] allowed)
        {
            if (!allowed.Contains(value, StringComparer.Ordinal))
            {
                errors.Add($"{option} ({Key(key)}): '{value}' is not one of {string.Join(", ", allowed)}.");
            }
        }
        void Within(string option, string key, long value, long minimum, long maximum)
        {
            if (value < minimum || value > maximum)
            {
                errors.Add(maximum == long.MaxValue
                    ? $"{option} ({Key(key)}) must be at least {minimum}; got {value}."
                    : $"{option} ({Key(key)}) must be from {minimum} to {maximum}; got {value}.");
            }
        }
        void AtLeast(string option, string key, long value, long minimum) => Within(option, key, value, minimum, long.MaxValue);
        void Number(string option, string key, double value, Bound low, Bound high, string note = "")
        {
            if (!double.IsFinite(value) || !low.AllowsAbove(value) || !high.AllowsBelow(value))
            {
                errors.Add($"{option} ({Key(key)}) must be a number {low.Describe("at least", "above")} and "
                    + $"{high.Describe("at most", "below")}{note}; got {G(value)}.");
            }
        }

        OneOf("--task", "Task", options.Task, [.. TaskNames.All, .. _ownTasks]);
        if (TaskNames.All.Contains(options.Task) && options.Model.Length > 0)
        {
            OneOf("--model", "Model", options.Model, ModelNames.ForTask(options.Task));
        }
        else if (options.Model.Length > 0 && _ownTasks.Contains(options.Task))
        {
            errors.Add($"--model ({Key("Model")}) chooses a built-in task's model; '{options.Task}' builds its own.");
        }
        OneOf("--optimizer", "Optimizer", options.Optimizer, OptimizerNames.All);
        OneOf("--schedule", "Schedule", options.Schedule, ScheduleNames.All);
        OneOf("--device", "Device", options.Device, DeviceNames.All);
        OneOf("--resume / --new", "ExistingRun", options.ExistingRun, ExistingRunModes.All);
        AtLeast("--steps", "Steps", options.Steps, 1);
        if (options.MaxTrainedSteps != 0 && options.MaxTrainedSteps < options.Steps)
        {
            errors.Add($"--max-trained-steps ({Key("MaxTrainedSteps")}) must be 0 (twice --steps) or at least --steps ({options.Steps}), "
                + $"so the run can reach its last step; got {options.MaxTrainedSteps}.");
        }
        if (!RunBudget.TryParseDeadline(options.Deadline, DateTimeOffset.UtcNow, out _))
        {
            errors.Add($"--deadline ({Key("Deadline")}): '{options.Deadline}' is neither a time of day (07:00) nor an ISO 8601 date and time "
                + "(2026-11-27T07:00:00+01:00).");
        }
        Within("--batch-size", "BatchSize", options.BatchSize, 0, NumericLimits.MaxBatchSize);
        Number("--lr", "LearningRate", options.LearningRate, Bound.Exclusive(0), Bound.Inclusive(NumericLimits.MaxLearningRate));
        Number("--weight-decay", "WeightDecay", options.WeightDecay, Bound.Inclusive(0), Bound.Inclusive(NumericLimits.MaxWeightDecay));
        // SGD with momentum 1 or more never forgets a gradient: the update grows without bound.
        Number("--momentum", "Momentum", options.Momentum, Bound.Inclusive(0), Bound.Exclusive(1));
        Number("--grad-clip", "GradClip", options.GradClip, Bound.Inclusive(0), Bound.Inclusive(NumericLimits.MaxGradClip),
            " (0 turns clipping off)");
        AtLeast("--warmup-steps", "WarmupSteps", options.WarmupSteps, 0);
        Within("--threads", "Threads", options.Threads, 0, NumericLimits.MaxThreads);
        AtLeast("--seed", "Seed", options.Seed, 0);
        AtLeast("--eval-every", "EvalEvery", options.EvalEvery, 1);
        AtLeast("--eval-batches", "EvalBatches", options.EvalBatches, 0);
        AtLeast("--log-every", "LogEvery", options.LogEvery, 1);
        AtLeast("--snapshot-every", "SnapshotEvery", options.SnapshotEvery, 0);
        Within("--snapshots-kept", "SnapshotsKept", options.SnapshotsKept, 1, NumericLimits.MaxSnapshotsKept);
        AtLeast("--checkpoint-every", "CheckpointEvery", options.CheckpointEvery, 0);
        AtLeast("--checkpoints-kept", "CheckpointsKept", options.CheckpointsKept, 0);
        AtLeast("--max-non-finite", "MaxConsecutiveNonFinite", options.MaxConsecutiveNonFinite, 1);
        if (string.IsNullOrWhiteSpace(options.Out))
        {
            errors.Add($"--out ({Key("Out")}) must name an output folder.");
        }

        Number("--watch-weight", "Data:WatchWeight", options.Data.WatchWeight, Bound.Inclusive(0),
            Bound.Inclusive(NumericLimits.MaxScaleFactor));
        if (options.Data.EvalTextPath.Length > 0 && !File.Exists(options.Data.EvalTextPath)
            && !Directory.Exists(options.Data.EvalTextPath))
        {
            errors.Add($"--eval-text ({Key("Data:EvalTextPath")}): {options.Data.EvalTextPath} does not exist.");
        }
        TrainerGuardOptions guards = options.Guards;
        if (guards.SkipBatchLossFactor != 0)
        {
            Number("--skip-batch-loss-factor", "Guards:SkipBatchLossFactor", guards.SkipBatchLossFactor,
                Bound.Exclusive(1), Bound.Inclusive(NumericLimits.MaxScaleFactor), " (or 0: off)");
        }
        Number("--adaptive-grad-clip", "Guards:AdaptiveGradClipPercentile", guards.AdaptiveGradClipPercentile,
            Bound.Inclusive(0), Bound.Inclusive(100), " (a percentile; 0: off)");
        Within("--grad-norm-window", "Guards:GradNormWindow", guards.GradNormWindow, 2, 100_000);
        Within("--skip-batch-max", "Guards:SkipBatchMaxConsecutive", guards.SkipBatchMaxConsecutive, 1, 1_000_000);

        CharLmOptions lm = options.CharLm;
        Within("--context-length", "CharLm:ContextLength", lm.ContextLength, 2, NumericLimits.MaxContextLength);
        Within("--embedding-size", "CharLm:EmbeddingSize", lm.EmbeddingSize, 1, NumericLimits.MaxEmbeddingSize);
        Within("--layers", "CharLm:Layers", lm.Layers, 1, NumericLimits.MaxLayers);
        Within("--heads", "CharLm:Heads", lm.Heads, 1, Math.Max(1, lm.EmbeddingSize));
        if (lm.Heads > 0 && lm.EmbeddingSize % lm.Heads != 0)
        {
            errors.Add($"--embedding-size ({Key("CharLm:EmbeddingSize")}) must be a multiple of --heads ({lm.Heads}); got {lm.EmbeddingSize}.");
        }

        for (int index = 0; index < options.Faults.Count; index++)
        {
            errors.AddRange(FaultSpec.Validate(options.Faults[index], options.Steps)
                .Select(problem => $"--fault #{index + 1} ({Key($"Faults:{index}")}): {problem}"));
        }

        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    private static string Key(string property) => $"{TrainingOptions.Section}:{property}";

    private static string G(double value) => value.ToString("G6", System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>One end of an allowed range: the limit itself allowed (inclusive) or not.</summary>
    private readonly record struct Bound(double Limit, bool Allowed)
    {
        public static Bound Inclusive(double limit) => new(limit, true);
        public static Bound Exclusive(double limit) => new(limit, false);
        public bool AllowsAbove(double value) => Allowed ? value >= Limit : value > Limit;
        public bool AllowsBelow(double value) => Allowed ? value <= Limit : value < Limit;
        public string Describe(string inclusive, string exclusive) => $"{(Allowed ? inclusive : exclusive)} {G(Limit)}";
    }
}
