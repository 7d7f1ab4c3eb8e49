namespace AgentTrainer.Training.Checkpoints;

/// <summary>The trainer's own state in a checkpoint, beside the model, optimizer and RNG state:
/// where it is (step, data position, branch), the settings commands can change, the keys of the
/// commands whose effect it contains (a restarted run re-applies exactly the approved ones it lacks),
/// the model it was taken from (its signature: a checkpoint of another model is refused before it is
/// restored), its validation loss (measured at its step, and the latest of its branch at or before it) and
/// the steps the run had trained in all (its budget spent), what the step guards remember and the layers trained
/// differently, and the training data's mixture. These are absent from checkpoints written before they were kept.</summary>
public sealed record TrainerPosition(
    long Step, long DataPosition, int Branch, double BaseLearningRate, double WeightDecay, double GradClip,
    IReadOnlyList<string>? AppliedKeys = null, string? Model = null, double? ValLoss = null, long? TrainedSteps = null,
    double? LastValLoss = null, Trainer.StepGuardState? Guards = null, Trainer.LayerTrainingState? Layers = null,
    Core.Records.DataMixture? Mixture = null)
{
    /// <summary>The latest validation loss of its lineage at its step: <see cref="LastValLoss"/>, or for a
    /// checkpoint written before that was kept, its own <see cref="ValLoss"/>.</summary>
    public double? LineageValLoss => LastValLoss ?? ValLoss;
}
