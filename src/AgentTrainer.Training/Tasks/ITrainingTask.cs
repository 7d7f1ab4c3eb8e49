using TorchSharp;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Tasks;

/// <summary>A model with its data: batches addressed by position (so a checkpoint's data position
/// is one number and replays exactly), a loss, and an evaluation on held-out data.</summary>
public interface ITrainingTask : IDisposable
{
    string Name { get; }
    nn.Module<Tensor, Tensor> Model { get; }

    /// <summary>Examples (classification) or tokens (language model) in one batch.</summary>
    long SamplesPerBatch { get; }

    /// <summary>Batches in one pass over the training data.</summary>
    long BatchesPerEpoch { get; }

    /// <summary>The training batch at <paramref name="position"/>; a corrupt batch has garbage
    /// inputs and wrong targets (fault injection). The tensors belong to the caller's dispose scope.</summary>
    (Tensor Input, Tensor Target) Batch(long position, bool corrupt);

    Tensor Loss(Tensor output, Tensor target);

    TaskEvaluation Evaluate(int maxBatches);
}

/// <summary>Held-out figures: loss, accuracy (classifiers) or bits per character (language models),
/// and the dead-ReLU fraction per module where the model has ReLUs.</summary>
public sealed record TaskEvaluation(double Loss, double? Accuracy, double? BitsPerChar, IReadOnlyDictionary<string, double> DeadFractions);
