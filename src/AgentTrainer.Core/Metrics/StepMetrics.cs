using System.Text.Json.Serialization;

namespace AgentTrainer.Core.Metrics;

/// <summary>What one optimisation step did. <see cref="NonFinite"/> steps were not applied, nor were
/// <see cref="Skipped"/> ones (true: the trainer's loss guard passed the batch over; its loss is the batch's).</summary>
public sealed record StepMetrics(
    long Step,
    int Epoch,
    int Branch,
    double Loss,
    double LearningRate,
    double GradNorm,
    double StepMs,
    double SamplesPerSecond,
    bool NonFinite,
    bool? Skipped = null)
{
    /// <summary>Beyond this magnitude a loss is no measurement: a model reporting it has diverged, and its square
    /// overflows the statistics a summary reads (a trend of NaN).</summary>
    public const double MaxMeasurableLoss = 1e150;

    /// <summary>The step was applied and its loss is one a summary can compute with; else it counts as non-finite.</summary>
    [JsonIgnore]
    public bool Measurable => !NonFinite && Math.Abs(Loss) <= MaxMeasurableLoss;

    /// <summary>A step the model trained on with a measurable loss: not passed over by the loss guard.</summary>
    [JsonIgnore]
    public bool Trained => Measurable && Skipped != true;
}

/// <summary>Validation figures and layer health at one evaluation. Accuracy is set for classifiers,
/// BitsPerChar for language models.</summary>
public sealed record EvaluationMetrics(
    long Step,
    int Branch,
    double ValLoss,
    double? Accuracy,
    double? BitsPerChar,
    IReadOnlyList<LayerHealth> Layers);

/// <summary>Health of one top-level module: norms of its weights and of their latest gradients, the
/// fraction of its ReLU units that were zero for every validation example (null: no ReLU), and how
/// training moved its weights since the previous evaluation (null: nothing comparable, e.g. at the first
/// evaluation or the first after a rollback): the net change relative to their norm per 100 steps, and
/// the straightness of the path (net change over the summed length of the steps; near 1: every step
/// points the same way, the optimizer is held back by its step size).</summary>
public sealed record LayerHealth(string Name, double WeightNorm, double GradNorm, double? DeadFraction,
    double? WeightChange = null, double? Straightness = null);
