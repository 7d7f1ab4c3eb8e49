using System.Globalization;
using AgentTrainer.Core.Runs;

namespace AgentTrainer.Training.Checkpoints;

/// <summary>The run's checkpoints: the most recent few in memory (rollback without disk I/O), and
/// those written to disk under the run folder. Ids read as <c>ckpt-STEP-bBRANCH</c>. The in-memory
/// checkpoint evicted last stays loadable (though no longer listed) until the next eviction: an agent
/// shown it at a step boundary gets its command applied only after that boundary's snapshot evicted it.
/// Disk checkpoints beyond <c>keepOnDisk</c> are deleted oldest first, except the run's starting point,
/// the best by validation loss and the latest.</summary>
public sealed class CheckpointStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, CheckpointInfo> _catalog = new(StringComparer.Ordinal);
    private readonly Dictionary<string, byte[]> _inMemory = new(StringComparer.Ordinal);
    private readonly Queue<string> _memoryOrder = new();
    private readonly List<string> _diskOrder = [];
    private (string Id, byte[] Payload)? _leaving;
    private readonly int _keepInMemory;
    private readonly int _keepOnDisk;
    private readonly TimeProvider _time;

    /// <param name="keepOnDisk">disk checkpoints kept; 0 keeps every one</param>
    public CheckpointStore(string folder, int keepInMemory, TimeProvider time, int keepOnDisk = 0)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keepInMemory, 1);
        ArgumentOutOfRangeException.ThrowIfNegative(keepOnDisk);
        Folder = folder;
        _keepInMemory = keepInMemory;
        _keepOnDisk = keepOnDisk;
        _time = time;
    }

    public string Folder { get; }

    /// <summary>The id of the run's starting point (step 0 of branch 0): never pruned, "start over" needs it.</summary>
    public static readonly string StartId = IdFor(0, 0);

    public static string IdFor(long step, int branch) =>
        string.Create(CultureInfo.InvariantCulture, $"ckpt-{step:D6}-b{branch}");

    /// <summary>Keeps a checkpoint (in memory, and on disk when asked). Returns the disk checkpoints
    /// this pruned away.</summary>
    public (CheckpointInfo Added, IReadOnlyList<string> Pruned) Add(TrainerPosition position, byte[] payload, bool toDisk)
    {
        string id = IdFor(position.Step, position.Branch);
        string? path = null;
        if (toDisk)
        {
            Directory.CreateDirectory(Folder);
            path = Path.Combine(Folder, id + CheckpointFile.Extension);
            SetAsideUnknown(id, path);
            CheckpointFile.Write(path, payload);
        }
        lock (_gate)
        {
            path ??= _catalog.GetValueOrDefault(id)?.Path;
            var info = new CheckpointInfo(
                id, position.Step, position.Branch, _time.GetUtcNow(), payload.Length, position.ValLoss, path, InMemory: true, position.LineageValLoss);
            _catalog[id] = info;
            if (_inMemory.TryAdd(id, payload))
            {
                _memoryOrder.Enqueue(id);
            }
            else
            {
                _inMemory[id] = payload;
            }
            while (_memoryOrder.Count > _keepInMemory)
            {
                Evict(_memoryOrder.Dequeue());
            }
            if (toDisk)
            {
                _diskOrder.Remove(id);
                _diskOrder.Add(id);
            }
            return (info, toDisk ? PruneDisk() : []);
        }
    }

    public IReadOnlyList<CheckpointInfo> List()
    {
        lock (_gate)
        {
            return [.. _catalog.Values.OrderBy(info => info.Step).ThenBy(info => info.Branch)];
        }
    }

    public CheckpointInfo? Find(string id)
    {
        lock (_gate)
        {
            return _catalog.GetValueOrDefault(id);
        }
    }

    /// <summary>The checkpoint's payload, from memory or (verified) from disk.</summary>
    public byte[] Load(string id)
    {
        string? path;
        lock (_gate)
        {
            if (_inMemory.TryGetValue(id, out byte[]? payload))
            {
                return payload;
            }
            if (_leaving is { } leaving && leaving.Id == id)
            {
                return leaving.Payload;
            }
            path = _catalog.GetValueOrDefault(id)?.Path;
        }
        if (path is null)
        {
            string known = string.Join(", ", List().Select(info => info.Id));
            throw new CheckpointException($"Unknown checkpoint '{id}'. Available: {(known.Length > 0 ? known : "none")}.");
        }
        return CheckpointFile.Read(path);
    }

    /// <summary>Adds the checkpoints already in the folder (a resumed run) to the catalog, oldest first.
    /// A file that cannot be used (unreadable, truncated, corrupt, or judged foreign by
    /// <paramref name="problem"/>) is left where it is, out of the catalog, and returned with why.</summary>
    public IReadOnlyList<(string Path, string Problem)> DiscoverOnDisk(Func<TrainerPosition, string?> problem)
    {
        var skipped = new List<(string, string)>();
        if (!Directory.Exists(Folder))
        {
            return skipped;
        }
        IEnumerable<FileInfo> files = new DirectoryInfo(Folder).EnumerateFiles("*" + CheckpointFile.Extension)
            .OrderBy(file => file.LastWriteTimeUtc).ThenBy(file => file.Name, StringComparer.Ordinal);
        foreach (FileInfo file in files)
        {
            TrainerPosition position;
            try
            {
                position = CheckpointSerializer.ReadPosition(CheckpointFile.Read(file.FullName));
            }
            catch (CheckpointException error)
            {
                skipped.Add((file.FullName, error.Message));
                continue;
            }
            if (problem(position) is { } foreign)
            {
                skipped.Add((file.FullName, foreign));
                continue;
            }
            string id = IdFor(position.Step, position.Branch);
            lock (_gate)
            {
                _catalog[id] = new CheckpointInfo(id, position.Step, position.Branch, file.LastWriteTimeUtc, file.Length, position.ValLoss,
                    file.FullName, InMemory: false, position.LineageValLoss);
                _diskOrder.Remove(id);
                _diskOrder.Add(id);
            }
        }
        return skipped;
    }

    /// <summary>Disk checkpoints, the one written last first (a resume tries them in this order).</summary>
    public IReadOnlyList<string> OnDiskNewestFirst()
    {
        lock (_gate)
        {
            return [.. Enumerable.Reverse(_diskOrder)];
        }
    }

    /// <summary>Forgets a disk checkpoint that turned out unusable (it stays on disk, untouched).</summary>
    public void Forget(string id)
    {
        lock (_gate)
        {
            _diskOrder.Remove(id);
            if (!_inMemory.ContainsKey(id))
            {
                _catalog.Remove(id);
            }
        }
    }

    /// <summary>A file under the name about to be written that this store does not know (one a resume
    /// skipped: corrupt, or another model's) is moved aside to NAME.skipped, not overwritten.</summary>
    private void SetAsideUnknown(string id, string path)
    {
        lock (_gate)
        {
            if (!File.Exists(path) || _diskOrder.Contains(id))
            {
                return;
            }
        }
        string aside = path + SkippedSuffix;
        for (int copy = 2; File.Exists(aside); copy++)
        {
            aside = string.Create(CultureInfo.InvariantCulture, $"{path}{SkippedSuffix}{copy}");
        }
        File.Move(path, aside);
    }

    /// <summary>What an unusable checkpoint file in the way of a new one is renamed to (never deleted).</summary>
    public const string SkippedSuffix = ".skipped";

    private List<string> PruneDisk()
    {
        var pruned = new List<string>();
        if (_keepOnDisk == 0 || _diskOrder.Count <= _keepOnDisk)
        {
            return pruned;
        }
        string latest = _diskOrder[^1];
        string? best = _diskOrder.Select(id => _catalog[id]).Where(info => info.ValLoss is { } loss && double.IsFinite(loss))
            .MinBy(info => info.ValLoss)?.Id;
        foreach (string id in _diskOrder.Where(id => id != StartId && id != best && id != latest).ToList())
        {
            if (_diskOrder.Count <= _keepOnDisk)
            {
                break;
            }
            File.Delete(_catalog[id].Path!);
            _diskOrder.Remove(id);
            if (_inMemory.ContainsKey(id))
            {
                _catalog[id] = _catalog[id] with { Path = null };
            }
            else
            {
                _catalog.Remove(id);
            }
            pruned.Add(id);
        }
        return pruned;
    }

    private void Evict(string id)
    {
        _inMemory.Remove(id, out byte[]? payload);
        CheckpointInfo info = _catalog[id];
        if (info.Path is null)
        {
            _catalog.Remove(id);
            _leaving = (id, payload!);
        }
        else
        {
            _catalog[id] = info with { InMemory = false };
        }
    }
}
