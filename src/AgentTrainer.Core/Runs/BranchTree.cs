namespace AgentTrainer.Core.Runs;

/// <summary>Every branch of the run: the root (0) and one per checkpoint load, each with its
/// parent and the step it forked at. History of old branches is kept (metrics carry the branch).</summary>
public sealed class BranchTree
{
    private readonly Lock _gate = new();
    private readonly List<BranchInfo> _branches = [new BranchInfo(0, null, 0, null)];

    public int Count
    {
        get { lock (_gate) { return _branches.Count; } }
    }

    public IReadOnlyList<BranchInfo> All
    {
        get { lock (_gate) { return [.. _branches]; } }
    }

    /// <summary>Branches an earlier session of the run created (a resumed run), so new ones number on.</summary>
    public void Restore(IEnumerable<BranchInfo> branches)
    {
        lock (_gate)
        {
            foreach (BranchInfo branch in branches.Where(b => b.Id >= _branches.Count).OrderBy(b => b.Id))
            {
                _branches.Add(branch);
            }
        }
    }

    public BranchInfo Fork(int parent, long step, string checkpointId)
    {
        lock (_gate)
        {
            var branch = new BranchInfo(_branches.Count, parent, step, checkpointId);
            _branches.Add(branch);
            return branch;
        }
    }
}
