using System.Collections.Concurrent;
using System.Globalization;

namespace AgentTrainer.Core.Commands;

/// <summary>The one way into the trainer: every source (agent, human, API, guard) submits here; the
/// trainer drains the queue at step boundaries, in submission order. Enqueueing never blocks.</summary>
public sealed class CommandQueue : IDisposable
{
    private readonly ConcurrentQueue<CommandRecord> _pending = new();
    private readonly SemaphoreSlim _available = new(0);
    private readonly TimeProvider _time;
    private readonly Lock _closing = new();
    private string? _closedBecause;
    private long _nextId;
    private string _idPrefix = "cmd-";

    public CommandQueue(TimeProvider time)
    {
        _time = time;
    }

    /// <summary>Raised on every status change, on the thread that made it.</summary>
    public event Action<CommandRecord, CommandStatusChange>? StatusChanged;

    /// <summary>True when a command waits; cheap enough to ask at every step.</summary>
    public bool HasPending => !_pending.IsEmpty;

    /// <summary>Numbers this session's commands apart from an earlier session's (a resumed run):
    /// cmd-00001 in the first, cmd-s2-00001 in the second. Call before the first submission.</summary>
    public void StartSession(int session) => _idPrefix = session > 1 ? $"cmd-s{session}-" : "cmd-";

    /// <summary>Accepts a command (pending) or fails it at once when it is invalid in itself.
    /// <paramref name="created"/> sees the record before the trainer can: a submitter that must
    /// recognise its command's status events registers the id there.</summary>
    public CommandRecord Submit(TrainerCommand command, CommandSource source, Action<CommandRecord>? created = null, string? key = null)
    {
        ArgumentNullException.ThrowIfNull(command);
        string id = _idPrefix + Interlocked.Increment(ref _nextId).ToString("D5", CultureInfo.InvariantCulture);
        var record = new CommandRecord(id, command, source, _time.GetUtcNow(), key);
        created?.Invoke(record);
        StatusChanged?.Invoke(record, record.History[0]);
        if (command.Validate() is { } problem)
        {
            Fail(record, null, problem);
            return record;
        }
        lock (_closing)
        {
            if (_closedBecause is { } ended)
            {
                Move(record, CommandStatus.Cancelled, null, ended);
                return record;
            }
            Move(record, CommandStatus.Pending, null, null);
            _pending.Enqueue(record);
        }
        _available.Release();
        return record;
    }

    public bool TryTake(out CommandRecord record)
    {
        if (_pending.TryDequeue(out CommandRecord? taken))
        {
            _available.Wait(0);
            record = taken;
            return true;
        }
        record = null!;
        return false;
    }

    /// <summary>Blocks (without spinning) until a command is submitted or the token is cancelled.</summary>
    public void WaitForCommand(CancellationToken cancellation)
    {
        if (_pending.IsEmpty)
        {
            _available.Wait(cancellation);
            _available.Release(); // leave the count for TryTake
        }
    }

    /// <summary>Waits (asynchronously) until a command is submitted, the wait is over or the token is cancelled;
    /// true when one waits.</summary>
    public async Task<bool> WaitForCommandAsync(TimeSpan wait, CancellationToken cancellation)
    {
        if (!_pending.IsEmpty)
        {
            return true;
        }
        if (!await _available.WaitAsync(wait, cancellation).ConfigureAwait(false))
        {
            return false;
        }
        _available.Release(); // leave the count for TryTake
        return true;
    }

    public void Start(CommandRecord record, long step) => Move(record, CommandStatus.Running, step, null);

    public void Succeed(CommandRecord record, long step, string result) => Move(record, CommandStatus.Succeeded, step, result);

    public void Fail(CommandRecord record, long? step, string reason) => Move(record, CommandStatus.Failed, step, reason);

    /// <summary>A command taken but not applied in any state the run continues from (its trainer was lost before
    /// confirming it): cancelled, as one the run never reached.</summary>
    public void Cancel(CommandRecord record, long step, string reason) => Move(record, CommandStatus.Cancelled, step, reason);

    /// <summary>The run ends: every command still waiting, and every one submitted from now on, is
    /// cancelled with the reason. No command is left pending for ever.</summary>
    public void Close(long step, string reason)
    {
        lock (_closing)
        {
            _closedBecause = reason;
        }
        while (TryTake(out CommandRecord record))
        {
            Move(record, CommandStatus.Cancelled, step, reason);
        }
    }

    public void Dispose() => _available.Dispose();

    private void Move(CommandRecord record, CommandStatus status, long? step, string? reason)
    {
        CommandStatusChange change = record.MoveTo(status, _time.GetUtcNow(), step, reason);
        StatusChanged?.Invoke(record, change);
    }
}
