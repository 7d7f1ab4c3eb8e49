using TorchSharp;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Tasks;

/// <summary>What a task gives the trainer — the contract for your own task, as for the built-in ones: a
/// model, training batches addressed by position (so a checkpoint's data position is one number and a
/// rollback replays the same batches, bit for bit), a loss, and an evaluation on held-out data. Everything
/// else — the optimizer, schedules, commands, checkpoints, faults, the agent — is the trainer's business.</summary>
public interface ITrainingTask : IDisposable
{
    /// <summary>The task's name, as <c>--task</c> gives it.</summary>
    string Name { get; }

    /// <summary>The model, already on the run's device. Its top-level and nested modules are the layers
    /// commands may name; its parameters are what the optimizer trains and checkpoints hold.</summary>
    nn.Module<Tensor, Tensor> Model { get; }

    /// <summary>Examples (or tokens) in one batch: reported as samples per second.</summary>
    long SamplesPerBatch { get; }

    /// <summary>Batches in one pass over the training data.</summary>
    long BatchesPerEpoch { get; }

    /// <summary>The training batch at <paramref name="position"/> (0, 1, 2, ... for ever: wrap epochs
    /// yourself). The same position must always give the same batch. The tensors belong to the caller's
    /// dispose scope.</summary>
    (Tensor Input, Tensor Target) Batch(long position);

    /// <summary>The training loss of the model's output for a batch's target (a scalar tensor).</summary>
    Tensor Loss(Tensor output, Tensor target);

    /// <summary>Held-out figures, over at most <paramref name="maxBatches"/> batches (0: all of them).
    /// Put the model in eval mode for it and back in training mode after.</summary>
    TaskEvaluation Evaluate(int maxBatches);
}

/// <summary>A task that corrupts its own batches for the corrupt-batches fault, in a way that fits its
/// data (the built-in ones do). Any other task's batches are corrupted by <see cref="Trainer.BatchCorruption"/>.</summary>
public interface ICorruptibleTask
{
    /// <summary>The batch at <paramref name="position"/>, broken as a bad data shard would be; deterministic.</summary>
    (Tensor Input, Tensor Target) CorruptBatch(long position);
}

/// <summary>Held-out figures: loss, accuracy (classifiers) or bits per character (language models),
/// and the dead-ReLU fraction per module where the model has ReLUs (empty when not measured).</summary>
public sealed record TaskEvaluation(
    double Loss, double? Accuracy, double? BitsPerChar, IReadOnlyDictionary<string, double> DeadFractions)
{
    /// <summary>Figures that are a held-out loss alone.</summary>
    public static TaskEvaluation OfLoss(double loss) => new(loss, null, null, new Dictionary<string, double>());
}
