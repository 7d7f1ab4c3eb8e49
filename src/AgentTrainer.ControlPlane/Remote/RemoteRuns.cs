using System.Buffers.Text;
using System.Security.Cryptography;
using System.Text;
using AgentTrainer.Agents;
using AgentTrainer.Agents.Supervision;
using AgentTrainer.ControlPlane.Live;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Naming;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using static System.FormattableString;

namespace AgentTrainer.ControlPlane.Remote;

/// <summary>The runs of trainers attached over the protocol: registration (a folder and a run token each), the
/// sessions (a trainer that comes back continues as the next one), and the end of silent ones. Each session gets
/// the host's agent and policy, as a built-in run would; the first run attached is the one the dashboard
/// shows.</summary>
public sealed partial class RemoteRuns(
    IOptions<RemoteOptions> remoteOptions,
    IOptions<TrainingOptions> trainingOptions,
    IOptions<AgentOptions> agentOptions,
    TimeProvider time,
    IHttpClientFactory http,
    ActiveRun active,
    RunMonitor monitor,
    ILogger<RemoteRuns> logger) : IAsyncDisposable
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, Entry> _runs = new(StringComparer.Ordinal);
    private readonly SemaphoreSlim _sessions = new(1, 1); // sessions open and close one at a time
    private readonly RemoteOptions _remote = remoteOptions.Value;

    /// <summary>The schedule a remote run's settings name: its trainer sets the lr (and tells a run apart as remote).</summary>
    public const string TrainerOwnSchedule = "trainer's own";

    public TrainerSchedule Schedule => new(trainingOptions.Value.EvalEvery, trainingOptions.Value.CheckpointEvery,
        _remote.EffectivePollWait.TotalSeconds, _remote.LostAfter.TotalSeconds, _remote.MaxBatchItems);

    /// <summary>The current session of a run, or null when there is no such run.</summary>
    public RemoteRun? Find(string id)
    {
        lock (_gate)
        {
            return _runs.GetValueOrDefault(id)?.Current;
        }
    }

    /// <summary>The run a trainer's token is scoped to, or null when it is no run's (constant time per run).</summary>
    public string? RunOf(string token)
    {
        byte[] hash = SHA256.HashData(Encoding.UTF8.GetBytes(token));
        lock (_gate)
        {
            return _runs.Values.FirstOrDefault(run => CryptographicOperations.FixedTimeEquals(run.TokenHash, hash))?.Id;
        }
    }

    public async Task<(RunAttached? Attached, ProtocolProblem? Problem)> RegisterAsync(RegisterRunRequest request)
    {
        if (Refusal(request) is { } problem)
        {
            return (null, problem);
        }
        string folder = Path.GetFullPath(Path.Combine(trainingOptions.Value.Out, request.Name));
        await _sessions.WaitAsync().ConfigureAwait(false);
        try
        {
            lock (_gate)
            {
                if (_runs.ContainsKey(request.Name))
                {
                    return (null, ProtocolProblem.Conflict($"a run named '{request.Name}' is attached already; choose "
                        + "another name, or continue it as its next session (POST /api/v1/runs/{id}/sessions with its "
                        + "token)."));
                }
            }
            if (Directory.Exists(folder) && Directory.EnumerateFileSystemEntries(folder).Any())
            {
                return (null, ProtocolProblem.Conflict($"{folder} holds files already (an earlier run's, or someone's "
                    + "own); they are left as they are. Choose another name."));
            }
            string token = Base64Url.EncodeToString(RandomNumberGenerator.GetBytes(32));
            var entry = new Entry(request.Name, request, SHA256.HashData(Encoding.UTF8.GetBytes(token)),
                Options(request, folder), new RemoteRunHistory(time.GetUtcNow()), RunFolderLock.Acquire(folder),
                Dashboard: active.Current is null);
            await OpenSessionAsync(entry, resume: null).ConfigureAwait(false);
            lock (_gate)
            {
                _runs[entry.Id] = entry; // listed once its session is open (registrations come one at a time)
            }
            LogAttached(logger, entry.Id, request.Framework, request.Device, folder);
            return (Attached(entry, token, resume: null), null);
        }
        finally
        {
            _sessions.Release();
        }
    }

    /// <summary>The trainer came back (restarted from its checkpoint): the run continues as its next session from
    /// the newest checkpoint the trainer reported. A session still open is ended as lost first.</summary>
    public async Task<(RunAttached? Attached, ProtocolProblem? Problem)> StartSessionAsync(
        string id, string token, StartSessionRequest request)
    {
        if (request.ProtocolVersion != TrainerProtocol.Version)
        {
            return (null, WrongVersion(request.ProtocolVersion));
        }
        await _sessions.WaitAsync().ConfigureAwait(false);
        try
        {
            Entry entry;
            lock (_gate)
            {
                entry = _runs[id];
            }
            RemoteRun current = entry.Current!;
            if (current.Outcome is { } outcome && outcome != RunOutcomes.Lost)
            {
                return (null, ProtocolProblem.Conflict($"run {id} ended ({outcome}); there is nothing to continue."));
            }
            if (entry.History.Newest() is not { } checkpoint)
            {
                return (null, ProtocolProblem.Conflict(
                    $"run {id}'s trainer reported no checkpoint to continue from; register a new run."));
            }
            string restarted = Invariant($"not applied: the trainer restarted at step {current.State.Step}");
            await current.EndAsync(RunOutcomes.Lost, restarted).ConfigureAwait(false);
            var resume = new ResumePoint(checkpoint.Id, checkpoint.Step, checkpoint.Branch, entry.History.Sessions + 1,
                entry.History.FirstStartedAt);
            await OpenSessionAsync(entry, resume).ConfigureAwait(false);
            LogResumed(logger, id, resume.Session, checkpoint.Id, checkpoint.Step);
            return (Attached(entry, token, resume), null);
        }
        finally
        {
            _sessions.Release();
        }
    }

    /// <summary>Ends, as lost, the session of every trainer silent for longer than Remote:LostAfter.</summary>
    public async Task EndSilentSessionsAsync()
    {
        DateTimeOffset cutoff = time.GetUtcNow() - _remote.LostAfter;
        RemoteRun[] silent;
        lock (_gate)
        {
            silent = [.. _runs.Values.Select(entry => entry.Current!).Where(run => run.SilentSince(cutoff))];
        }
        foreach (RemoteRun run in silent)
        {
            long step = run.State.Step;
            double seconds = _remote.LostAfter.TotalSeconds;
            string reason = Invariant($"not applied: the trainer fell silent (nothing from it for {seconds:G4} s) at ")
                + Invariant($"step {step}; the run is lost until it comes back as the next session");
            await run.EndAsync(RunOutcomes.Lost, reason).ConfigureAwait(false);
            LogLost(logger, run.Id, step, _remote.LostAfter.TotalSeconds);
        }
    }

    private async Task OpenSessionAsync(Entry entry, ResumePoint? resume)
    {
        int session = resume?.Session ?? 1;
        if (entry.Agent is { } earlier)
        {
            await earlier.DisposeAsync().ConfigureAwait(false);
        }
        entry.Current?.Dispose();
        var commands = new CommandQueue(time);
        commands.StartSession(session);
        AgentOptions agentSettings = agentOptions.Value;
        AgentRun? agent = agentSettings.Provider == AgentProviders.None ? null : AgentRun.Create(agentSettings,
            entry.Options.Out, commands, time, http.CreateClient(AgentFactory.ModelHttpClient), session);
        if (resume is not null)
        {
            agent?.Supervisor.ContinueAfterResume(RunRecordReader.ReadEvents(entry.Options.Out),
                entry.History.AppliedKeysAt(resume.CheckpointId), resume.CheckpointId);
            if (entry.Dashboard)
            {
                monitor.Continue(resume);
            }
        }
        var environment = new RunEnvironment(typeof(RemoteRuns).Assembly.GetName().Version?.ToString() ?? "unknown",
            "none (remote trainer)", entry.Request.Framework, Environment.OSVersion.ToString(),
            $"{entry.Request.Framework} on {entry.Request.Device}", 0);
        IRunObserver[] observers =
            [.. entry.Dashboard ? [monitor] : Array.Empty<IRunObserver>(), .. agent?.Observers ?? []];
        var run = new RemoteRun(entry.Id, entry.Options, entry.Request.Layers, environment, entry.History, resume,
            commands, time, _remote.MaxBatchItems, observers);
        run.SessionEnded += ended => LogEnded(logger, ended.Id, ended.Session, ended.Outcome!, ended.State.Step,
            ended.HandedBack?.Description ?? "no model");
        entry.History.Sessions = session;
        entry.Current = run;
        entry.Agent = agent;
        agent?.Attach(run);
        run.Start();
        if (entry.Dashboard)
        {
            active.Attach(new RunHandle(run, agent));
        }
    }

    private RunAttached Attached(Entry entry, string token, ResumePoint? resume) => new(
        entry.Id, token, entry.Current!.Session, entry.Options.Out, Schedule,
        resume is null ? null
            : new ResumeFrom(resume.CheckpointId, resume.Step, resume.Branch, entry.History.Branches.Count));

    /// <summary>The run's settings as run.json records them: what the trainer registered, and the host's
    /// schedule.</summary>
    private TrainingOptions Options(RegisterRunRequest request, string folder) => new()
    {
        Task = request.Task, Steps = (int)request.Steps, LearningRate = request.Optimizer.LearningRate,
        WeightDecay = request.Optimizer.WeightDecay, GradClip = request.Optimizer.GradClip,
        Optimizer = request.Optimizer.Name,
        Schedule = TrainerOwnSchedule, Seed = request.Seed, Device = request.Device, Out = folder,
        EvalEvery = trainingOptions.Value.EvalEvery, CheckpointEvery = trainingOptions.Value.CheckpointEvery,
        LogEvery = trainingOptions.Value.LogEvery,
    };

    private ProtocolProblem? Refusal(RegisterRunRequest request)
    {
        if (request.ProtocolVersion != TrainerProtocol.Version)
        {
            return WrongVersion(request.ProtocolVersion);
        }
        if (!_remote.Enabled)
        {
            return ProtocolProblem.Conflict("this host trains a run of its own; start one with "
                + "`agent-trainer run --remote` for trainers to attach to.");
        }
        OptimizerSettings optimizer = request.Optimizer;
        double maxLr = NumericLimits.MaxLearningRate;
        string? problem = Names.Problem(NameKind.Run, request.Name)
            ?? (string.IsNullOrWhiteSpace(request.Task) || request.Task.Length > 100
                ? "task must name what is trained (1 to 100 characters)."
            : request.Steps is < 1 or > int.MaxValue
                ? Invariant($"steps must be between 1 and {int.MaxValue}; got {request.Steps}.")
            : request.Layers.Count is 0 or > 10_000 || request.Layers.Any(string.IsNullOrWhiteSpace)
                ? "layers must name the model's modules (1 to 10000 names, none empty)."
            : !double.IsFinite(optimizer.LearningRate) || optimizer.LearningRate <= 0 || optimizer.LearningRate > maxLr
                ? Invariant($"optimizer.learning_rate must be above 0 and at most {maxLr:G4}; ")
                    + Invariant($"got {optimizer.LearningRate}.")
            : !double.IsFinite(optimizer.WeightDecay) || optimizer.WeightDecay < 0
                ? Invariant($"optimizer.weight_decay must be a finite number, 0 or more; got {optimizer.WeightDecay}.")
            : !double.IsFinite(optimizer.GradClip) || optimizer.GradClip < 0
                ? Invariant($"optimizer.grad_clip must be a finite number, 0 or more; got {optimizer.GradClip}.")
            : null);
        return problem is null ? null : ProtocolProblem.Invalid(problem);
    }

    private static ProtocolProblem WrongVersion(int version) => ProtocolProblem.Invalid(
        Invariant($"protocol_version {version} is not spoken here: this host speaks version ")
        + Invariant($"{TrainerProtocol.Version} ({TrainerProtocol.Prefix})."));

    public async ValueTask DisposeAsync()
    {
        Entry[] entries;
        lock (_gate)
        {
            entries = [.. _runs.Values];
            _runs.Clear();
        }
        foreach (Entry entry in entries)
        {
            await entry.Current!.EndAsync(RunOutcomes.Interrupted, "not applied: the host stopped")
                .ConfigureAwait(false);
            if (entry.Agent is { } agent)
            {
                await agent.DisposeAsync().ConfigureAwait(false);
            }
            entry.Current.Dispose();
            entry.FolderLock.Dispose();
        }
        _sessions.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Trainer attached: run {Run} ({Framework} on {Device}); records in {Folder}")]
    private static partial void LogAttached(ILogger logger, string run, string framework, string device, string folder);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Run {Run} continues as session {Session} from {Checkpoint} (step {Step})")]
    private static partial void LogResumed(ILogger logger, string run, int session, string checkpoint, long step);

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Run {Run} session {Session} ended ({Outcome}) at step {Step}: hands back {HandedBack}")]
    private static partial void LogEnded(
        ILogger logger, string run, int session, string outcome, long step, string handedBack);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Run {Run} lost at step {Step}: its trainer said nothing for {Seconds} s")]
    private static partial void LogLost(ILogger logger, string run, long step, double seconds);

    /// <summary>A run attached here: its registration, token (hashed), settings, history and current session.</summary>
    private sealed record Entry(string Id, RegisterRunRequest Request, byte[] TokenHash, TrainingOptions Options,
        RemoteRunHistory History, RunFolderLock FolderLock, bool Dashboard)
    {
        public RemoteRun? Current { get; set; }
        public AgentRun? Agent { get; set; }
    }
}
