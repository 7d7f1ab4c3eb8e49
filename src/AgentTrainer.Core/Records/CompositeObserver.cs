using AgentTrainer.Core.Metrics;

namespace AgentTrainer.Core.Records;

/// <summary>Hands everything the trainer reports to several observers, in order.</summary>
public sealed class CompositeObserver(params IRunObserver[] observers) : IRunObserver
{
    public void OnStep(StepMetrics metrics)
    {
        foreach (IRunObserver observer in observers)
        {
            observer.OnStep(metrics);
        }
    }

    public void OnEvaluation(EvaluationMetrics metrics)
    {
        foreach (IRunObserver observer in observers)
        {
            observer.OnEvaluation(metrics);
        }
    }

    public void OnEvent(RunEvent runEvent)
    {
        foreach (IRunObserver observer in observers)
        {
            observer.OnEvent(runEvent);
        }
    }
}
