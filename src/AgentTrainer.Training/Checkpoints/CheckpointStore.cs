using System.Globalization;

namespace AgentTrainer.Training.Checkpoints;

/// <summary>The run's checkpoints: the most recent few in memory (rollback without disk I/O), and
/// those written to disk under the run folder. Ids read as <c>ckpt-STEP-bBRANCH</c>. The in-memory
/// checkpoint evicted last stays loadable (though no longer listed) until the next eviction: an agent
/// shown it at a step boundary gets its command applied only after that boundary's snapshot evicted it.</summary>
public sealed class CheckpointStore
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, CheckpointInfo> _catalog = new(StringComparer.Ordinal);
    private readonly Dictionary<string, byte[]> _inMemory = new(StringComparer.Ordinal);
    private readonly Queue<string> _memoryOrder = new();
    private (string Id, byte[] Payload)? _leaving;
    private readonly int _keepInMemory;
    private readonly TimeProvider _time;

    public CheckpointStore(string folder, int keepInMemory, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(keepInMemory, 1);
        Folder = folder;
        _keepInMemory = keepInMemory;
        _time = time;
    }

    public string Folder { get; }

    public static string IdFor(long step, int branch) =>
        string.Create(CultureInfo.InvariantCulture, $"ckpt-{step:D6}-b{branch}");

    public CheckpointInfo Add(TrainerPosition position, byte[] payload, bool toDisk, double? valLoss)
    {
        string id = IdFor(position.Step, position.Branch);
        string? path = null;
        if (toDisk)
        {
            Directory.CreateDirectory(Folder);
            path = Path.Combine(Folder, id + CheckpointFile.Extension);
            CheckpointFile.Write(path, payload);
        }
        lock (_gate)
        {
            path ??= _catalog.GetValueOrDefault(id)?.Path;
            var info = new CheckpointInfo(id, position.Step, position.Branch, _time.GetUtcNow(), payload.Length, valLoss, path, InMemory: true);
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
            return info;
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

    /// <summary>Adds the checkpoints already in the folder (a resumed run) to the catalog.</summary>
    public void DiscoverOnDisk(Func<byte[], TrainerPosition> readPosition)
    {
        if (!Directory.Exists(Folder))
        {
            return;
        }
        foreach (string path in Directory.EnumerateFiles(Folder, "*" + CheckpointFile.Extension))
        {
            var file = new FileInfo(path);
            TrainerPosition position = readPosition(CheckpointFile.Read(path));
            string id = IdFor(position.Step, position.Branch);
            lock (_gate)
            {
                _catalog.TryAdd(id, new CheckpointInfo(id, position.Step, position.Branch, file.LastWriteTimeUtc, file.Length, null, path, InMemory: false));
            }
        }
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
