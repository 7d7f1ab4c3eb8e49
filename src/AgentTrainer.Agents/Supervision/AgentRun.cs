using AgentTrainer.Agents.Storage;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Training;

namespace AgentTrainer.Agents.Supervision;

/// <summary>The agent side of one run, built from its options: policy gate, review queue and audit
/// log in the run folder's agent.db, the agent and its supervisor. Observers to hand the run.</summary>
public sealed class AgentRun : IAsyncDisposable
{
    private AgentRun(AgentSupervisor supervisor, AuditLog audit, ReviewQueue reviews)
    {
        Supervisor = supervisor;
        Audit = audit;
        Reviews = reviews;
    }

    public AgentSupervisor Supervisor { get; }
    public AuditLog Audit { get; }
    public ReviewQueue Reviews { get; }
    public IRunObserver[] Observers => [Supervisor, Audit];

    public static AgentRun Create(AgentOptions options, string runFolder, Core.Commands.CommandQueue commands, TimeProvider time, HttpClient? http = null)
    {
        string database = Path.Combine(runFolder, AgentDatabase.FileName);
        var gate = new PolicyGate(PolicyLoader.Load(ContentPaths.Resolve(options.Policy)));
        var reviews = new ReviewQueue(database, time);
        var audit = new AuditLog(database);
        var transcript = new JsonLinesWriter(Path.Combine(runFolder, AgentSupervisor.TranscriptFile));
        var supervisor = new AgentSupervisor(options, AgentFactory.CreateAgent(options, time, http), gate, commands, reviews, time, transcript);
        return new AgentRun(supervisor, audit, reviews);
    }

    /// <summary>Connects the supervisor to the assembled run (its trainer and its observers).</summary>
    public void Attach(TrainingRun run) => Supervisor.Attach(run.Trainer, run.Events);

    public async ValueTask DisposeAsync()
    {
        await Supervisor.DisposeAsync().ConfigureAwait(false);
        await Audit.DisposeAsync().ConfigureAwait(false);
    }
}
