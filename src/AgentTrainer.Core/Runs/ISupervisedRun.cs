using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;

namespace AgentTrainer.Core.Runs;

/// <summary>A training run as everything outside the trainer sees it — the agent and its policy gate, the
/// control plane, the records: its state, checkpoints, branches and layers, the queue its commands go
/// through, and the observer its events go to. Every member is safe to read from any thread.</summary>
public interface ISupervisedRun
{
    /// <summary>The task's name (what was trained).</summary>
    string Task { get; }

    /// <summary>The run folder: records, checkpoints, agent.db.</summary>
    string Folder { get; }

    /// <summary>1 for a fresh run, more for a resumed one.</summary>
    int Session { get; }

    /// <summary>The checkpoint this session continued from; null for a fresh run.</summary>
    string? ResumedFromCheckpoint { get; }

    RunState State { get; }

    RunBudget Budget { get; }

    /// <summary>Every module a layer command may name, by dotted path (see <see cref="LayerNames"/>).</summary>
    IReadOnlyList<string> Layers { get; }

    /// <summary>Checkpoints in memory and on disk, oldest first.</summary>
    IReadOnlyList<CheckpointInfo> Checkpoints { get; }

    IReadOnlyList<BranchInfo> Branches { get; }

    /// <summary>Where commands to the run go; the run applies them at step boundaries.</summary>
    CommandQueue Commands { get; }

    /// <summary>Everything the run reports (steps, evaluations, events); others may report into it too.</summary>
    IRunObserver Events { get; }
}
