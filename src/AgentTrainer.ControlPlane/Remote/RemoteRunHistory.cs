using AgentTrainer.Core.Runs;

namespace AgentTrainer.ControlPlane.Remote;

/// <summary>What a remote run keeps from one session to the next: its branches, the checkpoints its trainer
/// reported (with the keyed commands each one contains, so a later session applies an approval exactly once),
/// the steps trained in all, and when it first started.</summary>
public sealed class RemoteRunHistory(DateTimeOffset firstStartedAt)
{
    private readonly Lock _gate = new();
    private readonly List<CheckpointInfo> _checkpoints = [];
    private readonly Dictionary<string, string[]> _appliedKeys = new(StringComparer.Ordinal);
    private long _trainedSteps;

    public DateTimeOffset FirstStartedAt { get; } = firstStartedAt;

    public BranchTree Branches { get; } = new();

    /// <summary>The sessions started so far.</summary>
    public int Sessions { get; set; }

    public long TrainedSteps => Interlocked.Read(ref _trainedSteps);

    public IReadOnlyList<CheckpointInfo> Checkpoints
    {
        get { lock (_gate) { return [.. _checkpoints]; } }
    }

    public CheckpointInfo? Find(string id)
    {
        lock (_gate)
        {
            return _checkpoints.Find(c => c.Id == id);
        }
    }

    public void StepTrained() => Interlocked.Increment(ref _trainedSteps);

    public void Add(CheckpointInfo checkpoint, IEnumerable<string> appliedKeys)
    {
        lock (_gate)
        {
            _checkpoints.Add(checkpoint);
            _appliedKeys[checkpoint.Id] = [.. appliedKeys.Order(StringComparer.Ordinal)];
        }
    }

    /// <summary>The keyed commands applied in the lineage of a checkpoint when it was written.</summary>
    public IReadOnlySet<string> AppliedKeysAt(string checkpointId)
    {
        lock (_gate)
        {
            return new HashSet<string>(_appliedKeys.GetValueOrDefault(checkpointId) ?? [], StringComparer.Ordinal);
        }
    }

    /// <summary>Where a new session continues: the newest checkpoint the trainer reported.</summary>
    public CheckpointInfo? Newest()
    {
        lock (_gate)
        {
            return _checkpoints.Count == 0 ? null : _checkpoints[^1];
        }
    }
}
