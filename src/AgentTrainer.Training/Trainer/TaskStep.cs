using AgentTrainer.Training.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Trainer;

/// <summary>One optimizer step of a task, taken by the trainer itself: the batch at the data position (broken
/// when a fault says so), forward, loss, backward, global-norm clipping and the update. A non-finite loss or
/// gradient is not trained through: its update is skipped; nor is a batch whose loss the loss guard refuses.</summary>
/// <param name="updateWeights">the update itself, the trainer's (<see cref="InteractiveTrainer.UpdateWeights"/>)</param>
internal sealed class TaskStep(ITrainingTask task, OptimizerControl optimizer, int seed, Action updateWeights)
{
    private readonly Parameter[] _parameters = [.. task.Model.parameters()];

    public long SamplesPerBatch => task.SamplesPerBatch;

    /// <param name="skipAbove">a loss at or above this is not trained on (null: every batch is)</param>
    /// <returns>the batch's loss, the gradient norm before clipping (NaN when the loss was not finite or the batch
    /// skipped), and whether it was skipped</returns>
    public (double Loss, double GradNorm, bool Skipped) Train(
        long dataPosition, bool corrupt, double gradClip, double? skipAbove)
    {
        using DisposeScope scope = torch.NewDisposeScope();
        (Tensor input, Tensor target) = !corrupt ? task.Batch(dataPosition)
            : task is ICorruptibleTask own ? own.CorruptBatch(dataPosition)
            : BatchCorruption.Corrupt(task.Batch(dataPosition), seed, dataPosition);
        optimizer.Optimizer.zero_grad();
        Tensor loss = task.Loss(task.Model.forward(input), target);
        double lossValue = loss.item<float>();
        if (!double.IsFinite(lossValue) || lossValue >= skipAbove)
        {
            return (lossValue, double.NaN, double.IsFinite(lossValue));
        }
        loss.backward();
        double gradNorm = nn.utils.clip_grad_norm_(_parameters, gradClip > 0 ? gradClip : double.PositiveInfinity);
        if (double.IsFinite(gradNorm))
        {
            updateWeights();
        }
        return (lossValue, gradNorm, false);
    }
}
