using AgentTrainer.Core.Metrics;

namespace AgentTrainer.Core.Summaries;

/// <summary>A bounded memory of the run for summaries: recent steps of the current branch and its
/// evaluations. Written by the training thread, read by the agent's thread: guarded by a lock.</summary>
public sealed class RunHistory(int capacity = 4096)
{
    private readonly Lock _gate = new();
    private readonly List<StepMetrics> _steps = [];
    private readonly List<EvaluationMetrics> _evaluations = [];

    public void Add(StepMetrics step)
    {
        lock (_gate)
        {
            // A new branch rewinds history to its fork: drop what the old branch did after it.
            if (_steps.Count > 0 && (step.Branch != _steps[^1].Branch || step.Step <= _steps[^1].Step))
            {
                _steps.RemoveAll(s => s.Step >= step.Step);
                _evaluations.RemoveAll(e => e.Step > step.Step);
            }
            _steps.Add(step);
            if (_steps.Count > capacity + (capacity / 4))
            {
                _steps.RemoveRange(0, _steps.Count - capacity); // trimmed in batches, not a shift per step
            }
        }
    }

    public void Add(EvaluationMetrics evaluation)
    {
        lock (_gate)
        {
            _evaluations.RemoveAll(e => e.Step >= evaluation.Step);
            _evaluations.Add(evaluation);
        }
    }

    public (IReadOnlyList<StepMetrics> Steps, IReadOnlyList<EvaluationMetrics> Evaluations) Snapshot()
    {
        lock (_gate)
        {
            return ([.. _steps], [.. _evaluations]);
        }
    }
}
