using AgentTrainer.Training.Tasks;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Trainer;

/// <summary>What the trainer trains, whoever takes the steps: the model and its optimizer, how it is evaluated,
/// and any state of your own that checkpoints must hold besides model, optimizer and RNG (your loop's data
/// position). <paramref name="OptimizerName"/> goes into the model signature checkpoints are checked against.</summary>
public sealed record TrainingTarget(
    string Name,
    nn.Module Model,
    OptimizerControl Optimizer,
    string OptimizerName,
    Func<int, TaskEvaluation> Evaluate,
    long BatchesPerEpoch,
    Action<BinaryWriter>? SaveState = null,
    Action<BinaryReader>? LoadState = null)
{
    /// <summary>A task, trained with the optimizer the options name.</summary>
    public static TrainingTarget Of(ITrainingTask task, Core.Options.TrainingOptions options) => new(
        task.Name, task.Model, new OptimizerControl(options, task.Model.parameters()), options.Optimizer, task.Evaluate,
        task.BatchesPerEpoch);

    /// <summary>Your own loop, with its own optimizer, which gets the weight decay the options set (where it has one).
    /// The epoch is not known: a loop's steps count as epoch 0.</summary>
    public static TrainingTarget Of(Loops.ITrainingLoop loop, Core.Options.TrainingOptions options)
    {
        var optimizer = new OptimizerControl(loop.Optimizer);
        if (optimizer.HasWeightDecay)
        {
            optimizer.SetWeightDecay(options.WeightDecay);
        }
        return new TrainingTarget(loop.Name, loop.Model, optimizer, loop.Optimizer.GetType().Name, loop.Evaluate,
            BatchesPerEpoch: long.MaxValue, loop.SaveState, loop.LoadState);
    }
}

/// <summary>One step as it was taken: its loss, the gradient norm before clipping (null when not measured), the
/// learning rate it used, the examples it saw, how long it took, and whether the loss guard passed its batch
/// over.</summary>
internal readonly record struct StepReport(
    double Loss, double? GradNorm, double LearningRate, long Samples, double ElapsedMs, bool Skipped = false);
