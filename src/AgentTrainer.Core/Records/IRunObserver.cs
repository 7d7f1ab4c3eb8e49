using AgentTrainer.Core.Metrics;

namespace AgentTrainer.Core.Records;

/// <summary>Receives what the trainer reports, on the training thread: implementations must not block.</summary>
public interface IRunObserver
{
    void OnStep(StepMetrics metrics);
    void OnEvaluation(EvaluationMetrics metrics);
    void OnEvent(RunEvent runEvent);
}
