namespace AgentTrainer.Core.Commands;

/// <summary>A submitted command and where it is in its lifecycle. Safe to read from any thread;
/// only the queue and the trainer move it forward.</summary>
public sealed class CommandRecord
{
    private readonly Lock _gate = new();
    private readonly List<CommandStatusChange> _history = [];
    private readonly TaskCompletionSource<CommandRecord> _finished = new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal CommandRecord(string id, TrainerCommand command, CommandSource source, DateTimeOffset requestedAt, string? key)
    {
        Id = id;
        Key = key;
        Command = command;
        Source = source;
        _history.Add(new CommandStatusChange(CommandStatus.Requested, requestedAt, null, null));
    }

    public string Id { get; }

    /// <summary>Names what the command carries out (e.g. an approved review), so the trainer applies
    /// it at most once even when it is submitted again after a restart. Null: no such guarantee needed.</summary>
    public string? Key { get; }
    public TrainerCommand Command { get; }
    public CommandSource Source { get; }

    public CommandStatus Status
    {
        get { lock (_gate) { return _history[^1].Status; } }
    }

    /// <summary>Why it failed, or what it did when it succeeded.</summary>
    public string? Reason
    {
        get { lock (_gate) { return _history[^1].Reason; } }
    }

    public IReadOnlyList<CommandStatusChange> History
    {
        get { lock (_gate) { return [.. _history]; } }
    }

    public bool IsFinished => Status.IsFinal();

    /// <summary>Completes when the command has succeeded, failed or been cancelled.</summary>
    public Task<CommandRecord> Finished => _finished.Task;

    internal CommandStatusChange MoveTo(CommandStatus status, DateTimeOffset at, long? step, string? reason)
    {
        CommandStatusChange change;
        lock (_gate)
        {
            CommandStatus current = _history[^1].Status;
            if (current.IsFinal() || status <= current)
            {
                throw new InvalidOperationException($"Command {Id} cannot move from {current} to {status}.");
            }
            change = new CommandStatusChange(status, at, step, reason);
            _history.Add(change);
        }
        if (status.IsFinal())
        {
            _finished.TrySetResult(this);
        }
        return change;
    }
}

public sealed record CommandStatusChange(CommandStatus Status, DateTimeOffset At, long? Step, string? Reason);
