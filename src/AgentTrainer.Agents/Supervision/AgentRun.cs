using AgentTrainer.Agents.Decisions;
using AgentTrainer.Agents.Storage;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;

namespace AgentTrainer.Agents.Supervision;

/// <summary>The agent side of one run, built from its options: policy gate, review queue and audit
/// log in the run folder's agent.db, the agent and its supervisor. Observers to hand the run.</summary>
public sealed class AgentRun : IAsyncDisposable
{
    private AgentRun(
        AgentOptions options, Policy policy, AgentSupervisor supervisor, AuditLog audit, ReviewQueue reviews)
    {
        Provider = options.Provider;
        Policy = policy;
        Supervisor = supervisor;
        Audit = audit;
        Reviews = reviews;
    }

    public string Provider { get; }
    public Policy Policy { get; }
    public AgentSupervisor Supervisor { get; }
    public AuditLog Audit { get; }
    public ReviewQueue Reviews { get; }
    public IRunObserver[] Observers => [Supervisor, Audit];

    /// <param name="session">the run's session (more than 1: a resumed run, whose ids must not repeat the
    /// earlier ones)</param>
    public static AgentRun Create(AgentOptions options, string runFolder, Core.Commands.CommandQueue commands,
        TimeProvider time, HttpClient? http = null, int session = 1)
    {
        string database = Path.Combine(runFolder, AgentDatabase.FileName);
        Policy policy = PolicyLoader.Load(ContentPaths.Resolve(options.Policy));
        var gate = new PolicyGate(policy);
        var reviews = new ReviewQueue(database, time);
        var audit = new AuditLog(database);
        var transcript = new JsonLinesWriter(Path.Combine(runFolder, AgentSupervisor.TranscriptFile));
        TrainingAgent agent = AgentFactory.CreateAgent(options, policy.OfferedTools, time, http);
        agent.StartSession(session);
        var supervisor = new AgentSupervisor(options, agent, gate, commands, reviews, time, transcript);
        return new AgentRun(options, policy, supervisor, audit, reviews);
    }

    /// <summary>Connects the supervisor to the assembled run.</summary>
    public void Attach(ISupervisedRun run) => Supervisor.Attach(run);

    public async ValueTask DisposeAsync()
    {
        await Supervisor.DisposeAsync().ConfigureAwait(false);
        await Audit.DisposeAsync().ConfigureAwait(false);
    }
}
