using AgentTrainer.Agents.Supervision;
using AgentTrainer.Core.Runs;

namespace AgentTrainer.ControlPlane;

/// <summary>The run the host is training, once assembled (data loaded, model built): what the API
/// reads and commands. Null until then; the API answers 503 meanwhile.</summary>
public sealed class ActiveRun
{
    private RunHandle? _current;

    public RunHandle? Current => Volatile.Read(ref _current);

    /// <summary>The run, for code that runs only once it is assembled (endpoints marked
    /// <see cref="Api.RunReady.RequireRun"/>): it never goes back to null.</summary>
    public RunHandle Required => Current ?? throw new InvalidOperationException("The run is not assembled yet.");

    public void Attach(RunHandle handle) => Volatile.Write(ref _current, handle);
}

/// <param name="Run">the training run</param>
/// <param name="Agent">its agent side, or null for a run without an agent (no review queue)</param>
public sealed record RunHandle(ISupervisedRun Run, AgentRun? Agent);
