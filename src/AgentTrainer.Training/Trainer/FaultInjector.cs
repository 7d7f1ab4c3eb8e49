using AgentTrainer.Core.Options;

namespace AgentTrainer.Training.Trainer;

/// <summary>Decides when configured faults strike. Each fault strikes once per run, the first time
/// any branch reaches its step: a transient event (a bad node, a bad shard), so rolling back past
/// it is a real repair. A corrupt-batch fault then spoils that many consecutive steps, unless a
/// checkpoint is loaded first: that restarts the input pipeline past the bad batches, as the
/// rollback-and-skip repair of large training runs does.</summary>
public sealed class FaultInjector
{
    private readonly List<FaultOptions> _waiting;
    private int _corruptStepsLeft;

    public FaultInjector(IEnumerable<FaultOptions> faults)
    {
        _waiting = [.. faults.OrderBy(fault => fault.Step)];
    }

    /// <summary>The faults that strike before the update at <paramref name="step"/>; each only once.</summary>
    public IReadOnlyList<FaultOptions> Strike(long step)
    {
        List<FaultOptions> due = _waiting.Where(fault => fault.Step == step).ToList();
        foreach (FaultOptions fault in due)
        {
            _waiting.Remove(fault);
            if (fault.Kind == FaultKinds.CorruptBatches)
            {
                _corruptStepsLeft += fault.Count;
            }
        }
        return due;
    }

    /// <summary>Faults an earlier session of the run already took (kind and step) strike no more.</summary>
    public void AlreadyStruck(IEnumerable<(string Kind, long Step)> struck)
    {
        foreach ((string kind, long step) in struck)
        {
            _waiting.RemoveAll(fault => fault.Kind == kind && fault.Step == step);
        }
    }

    /// <summary>A checkpoint was loaded: a corrupt burst still under way ends.</summary>
    public void EndBurst() => _corruptStepsLeft = 0;

    /// <summary>Whether the batch of the step being taken now is corrupt (counts it down).</summary>
    public bool TakeCorruptBatch()
    {
        if (_corruptStepsLeft == 0)
        {
            return false;
        }
        _corruptStepsLeft--;
        return true;
    }
}
