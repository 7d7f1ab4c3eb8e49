using Microsoft.Extensions.Options;

namespace AgentTrainer.Core.Options;

/// <summary>Checks a run's settings at start-up. Each message names the command-line option, the
/// configuration key and the allowed values, so a user can fix it from either place.</summary>
public sealed class TrainingOptionsValidator : IValidateOptions<TrainingOptions>
{
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
        void AtLeast(string option, string key, long value, long minimum)
        {
            if (value < minimum)
            {
                errors.Add($"{option} ({Key(key)}) must be at least {minimum}; got {value}.");
            }
        }
        void PositiveFinite(string option, string key, double value)
        {
            if (!double.IsFinite(value) || value <= 0)
            {
                errors.Add($"{option} ({Key(key)}) must be a positive finite number; got {value}.");
            }
        }
        void NonNegativeFinite(string option, string key, double value)
        {
            if (!double.IsFinite(value) || value < 0)
            {
                errors.Add($"{option} ({Key(key)}) must be a finite number >= 0; got {value}.");
            }
        }

        OneOf("--task", "Task", options.Task, TaskNames.All);
        if (TaskNames.All.Contains(options.Task) && options.Model.Length > 0)
        {
            OneOf("--model", "Model", options.Model, ModelNames.ForTask(options.Task));
        }
        OneOf("--optimizer", "Optimizer", options.Optimizer, OptimizerNames.All);
        OneOf("--schedule", "Schedule", options.Schedule, ScheduleNames.All);
        OneOf("--device", "Device", options.Device, DeviceNames.All);
        AtLeast("--steps", "Steps", options.Steps, 1);
        AtLeast("--batch-size", "BatchSize", options.BatchSize, 0);
        PositiveFinite("--lr", "LearningRate", options.LearningRate);
        NonNegativeFinite("--weight-decay", "WeightDecay", options.WeightDecay);
        NonNegativeFinite("--momentum", "Momentum", options.Momentum);
        NonNegativeFinite("--grad-clip", "GradClip", options.GradClip);
        AtLeast("--warmup-steps", "WarmupSteps", options.WarmupSteps, 0);
        AtLeast("--threads", "Threads", options.Threads, 0);
        AtLeast("--seed", "Seed", options.Seed, 0);
        AtLeast("--eval-every", "EvalEvery", options.EvalEvery, 1);
        AtLeast("--eval-batches", "EvalBatches", options.EvalBatches, 0);
        AtLeast("--log-every", "LogEvery", options.LogEvery, 1);
        AtLeast("--snapshot-every", "SnapshotEvery", options.SnapshotEvery, 0);
        AtLeast("--snapshots-kept", "SnapshotsKept", options.SnapshotsKept, 1);
        AtLeast("--checkpoint-every", "CheckpointEvery", options.CheckpointEvery, 0);
        AtLeast("--max-non-finite", "MaxConsecutiveNonFinite", options.MaxConsecutiveNonFinite, 1);
        if (string.IsNullOrWhiteSpace(options.Out))
        {
            errors.Add($"--out ({Key("Out")}) must name an output folder.");
        }

        CharLmOptions lm = options.CharLm;
        AtLeast("--context-length", "CharLm:ContextLength", lm.ContextLength, 2);
        AtLeast("--embedding-size", "CharLm:EmbeddingSize", lm.EmbeddingSize, 1);
        AtLeast("--layers", "CharLm:Layers", lm.Layers, 1);
        AtLeast("--heads", "CharLm:Heads", lm.Heads, 1);
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
}
