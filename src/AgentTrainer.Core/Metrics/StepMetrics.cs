namespace AgentTrainer.Core.Metrics;

/// <summary>What one optimisation step did. <see cref="NonFinite"/> steps were not applied.</summary>
public sealed record StepMetrics(
    long Step,
    int Epoch,
    int Branch,
    double Loss,
    double LearningRate,
    double GradNorm,
    double StepMs,
    double SamplesPerSecond,
    bool NonFinite);

/// <summary>Validation figures and layer health at one evaluation. Accuracy is set for classifiers,
/// BitsPerChar for language models.</summary>
public sealed record EvaluationMetrics(
    long Step,
    int Branch,
    double ValLoss,
    double? Accuracy,
    double? BitsPerChar,
    IReadOnlyList<LayerHealth> Layers);

/// <summary>Health of one top-level module: norms of its weights and of their latest gradients,
/// and the fraction of its ReLU units that were zero for every validation example (null: no ReLU).</summary>
public sealed record LayerHealth(string Name, double WeightNorm, double GradNorm, double? DeadFraction);
