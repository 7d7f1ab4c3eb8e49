using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using AgentTrainer.Core.Naming;
using AgentTrainer.Core.Records;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentTrainer.Service.Runs;

/// <summary>Starts submitted runs as child processes (<c>agent-trainer run</c>, one per run, in RUNS_ROOT/NAME),
/// at most <see cref="ServiceOptions.MaxConcurrentRuns"/> at once, the rest queued in the order they came; stops
/// them (SIGTERM: the run ends at a step boundary and says so), and requeues a lost or failed one to continue from
/// its last checkpoint. A child is its own session with its output in a log file, so it outlives the service: a
/// service that is killed and started again finds its runs still training.</summary>
public sealed partial class RunLauncher(
    IOptions<ServiceOptions> options, RunIndex index, IRunStarter starter, ILogger<RunLauncher> logger) : BackgroundService
{
    private const int SigTerm = 15;
    private readonly Dictionary<string, Process> _children = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();
    private readonly ServiceOptions _options = options.Value;

    public string SubmissionFile(string name) => Path.Combine(_options.ServiceFolder, "submissions", name + ".json");

    public string LogFile(string name) => Path.Combine(_options.ServiceFolder, "logs", name + ".log");

    /// <summary>Queues a run of these settings (a settings file's JSON: sections Training, Agent, ...) under a
    /// name.</summary>
    public SubmitResult Submit(string name, JsonElement settings, string person)
    {
        if (Names.Problem(NameKind.Run, name) is { } badName)
        {
            return SubmitResult.Invalid(badName);
        }
        if (settings.ValueKind != JsonValueKind.Object)
        {
            return SubmitResult.Invalid("settings must be a JSON object of sections (Training, Agent, ...), as a --config file.");
        }
        string folder = Path.Combine(Path.GetFullPath(_options.RunsRoot), name);
        if (index.Find(name) is not null || Directory.Exists(folder))
        {
            return SubmitResult.Conflict($"a run named '{name}' exists already ({folder}); choose another name.");
        }
        string json = settings.GetRawText();
        if (Check(name, json, folder) is { } refused)
        {
            return refused;
        }
        string kind = Setting(settings, "Training") is { } training
            && Setting(training, "TaskAssembly")?.GetString() is { Length: > 0 }
                ? RunKinds.OwnTask : RunKinds.BuiltIn;
        return index.Queue(name, folder, kind, json, person)
            ? SubmitResult.Queued(index.Find(name)!)
            : SubmitResult.Conflict($"a run named '{name}' was submitted at the same time; choose another name.");
    }

    /// <summary>Checks the settings as a run would read them, from a file of this request's own: the name is not won
    /// yet, so nothing is written under it (a second submission of the same name at once must not run these settings,
    /// nor remove the winner's). The run's file is written from the store by whoever starts it.</summary>
    private SubmitResult? Check(string name, string json, string folder)
    {
        string check = Path.Combine(_options.ServiceFolder, "submissions", $".{name}.{Guid.NewGuid():N}.check.json");
        try
        {
            Directory.CreateDirectory(Path.GetDirectoryName(check)!);
            File.WriteAllText(check, json);
            return starter.Problems(check, folder) is { Count: > 0 } problems
                ? SubmitResult.Invalid(string.Join(Environment.NewLine, problems))
                : null;
        }
        catch (IOException error) when (DiskFull(error))
        {
            return SubmitResult.NoSpace($"the service's disk is full ({_options.ServiceFolder}): {error.Message}; "
                + "nothing was queued.");
        }
        finally
        {
            File.Delete(check); // ours (this request's copy), never the user's
        }
    }

    /// <summary>ENOSPC or EDQUOT: the disk or the quota is full.</summary>
    private static bool DiskFull(IOException error) => (error.HResult & 0xFFFF) is 28 or 122;

    /// <summary>A section or key of a settings object; the keys are case-insensitive, as in configuration.</summary>
    private static JsonElement? Setting(JsonElement settings, string key) => settings.ValueKind == JsonValueKind.Object
        ? settings.EnumerateObject().Where(p => p.Name.Equals(key, StringComparison.OrdinalIgnoreCase))
            .Select(p => (JsonElement?)p.Value).FirstOrDefault()
        : null;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(_options.SyncInterval);
        do
        {
            try
            {
                StartQueued();
            }
            catch (Exception error) when (error is System.Data.Common.DbException or IOException)
            {
                LogStartFailed(logger, error);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>Starts queued runs while there are free slots (counting every live run the service started).</summary>
    public void StartQueued()
    {
        lock (_gate)
        {
            IReadOnlyList<RunEntry> runs = index.List();
            int live = runs.Count(run => run.SubmittedBy is not null && run.IsLive);
            foreach (RunEntry queued in runs.Where(run => run.State == RunStates.Queued).OrderBy(run => run.SubmittedAt)
                         .Take(Math.Max(0, _options.MaxConcurrentRuns - live)))
            {
                if (index.Move(queued.Name, RunStates.Queued, RunStates.Starting))
                {
                    Start(queued);
                }
            }
        }
    }

    private void Start(RunEntry run)
    {
        string log = LogFile(run.Name);
        Directory.CreateDirectory(Path.GetDirectoryName(log)!);
        // Written by the one instance that moved the run to starting, from the settings that won its name.
        Directory.CreateDirectory(Path.GetDirectoryName(SubmissionFile(run.Name))!);
        File.WriteAllText(SubmissionFile(run.Name), run.Settings);
        ProcessStartInfo start = starter.StartInfo(SubmissionFile(run.Name), run.Folder, run.Resume);
        // Its own session (a Ctrl+C to the service is not the run's), its output appended to its log (no pipe to
        // break when the service goes), and exec: the pid is the run's.
        var child = new ProcessStartInfo("setsid") { UseShellExecute = false };
        foreach (string argument in (string[])["/bin/sh", "-c", "exec \"$0\" \"$@\" >>\"$AGENT_TRAINER_LOG\" 2>&1", start.FileName,
                     .. start.ArgumentList])
        {
            child.ArgumentList.Add(argument);
        }
        child.Environment.Clear();
        foreach ((string key, string? value) in start.Environment)
        {
            child.Environment[key] = value;
        }
        child.Environment["AGENT_TRAINER_LOG"] = log;
        try
        {
            Process process = Process.Start(child)!;
            _children[run.Name] = process;
            index.SetProcess(run.Name, process.Id, Environment.MachineName);
            LogStarted(logger, run.Name, process.Id);
        }
        catch (System.ComponentModel.Win32Exception error)
        {
            index.Move(run.Name, RunStates.Starting, RunOutcomes.Failed, $"could not start its process: {error.Message}");
        }
    }

    /// <summary>Whether a run's process, started by this service on this machine, is still alive: starting (it has
    /// not yet taken its folder's lock), or ending (it let the lock go and has not exited yet).</summary>
    public bool ProcessAlive(RunEntry run)
    {
        lock (_gate)
        {
            if (_children.TryGetValue(run.Name, out Process? process))
            {
                return !process.HasExited;
            }
        }
        return run.Pid is { } pid && run.Host == Environment.MachineName && IsAlive(pid);
    }

    /// <summary>Why a run this service started ended with an error of its own (it exited, not killed by a signal,
    /// with a non-zero code): its exit code and last words; null when it did not, or it is not this service's child.
    /// A run refused at start (a bad corpus, say) failed: it was not lost.</summary>
    public string? RefusedToRun(RunEntry run)
    {
        lock (_gate)
        {
            if (!_children.TryGetValue(run.Name, out Process? process) || !process.HasExited
                || process.ExitCode is 0 or > 128)
            {
                return null;
            }
        }
        return WhyItEnded(run);
    }

    /// <summary>Why a run ended before it started: its exit code and the last lines it wrote.</summary>
    public string WhyItEnded(RunEntry run)
    {
        string exit = "";
        lock (_gate)
        {
            if (_children.TryGetValue(run.Name, out Process? process) && process.HasExited)
            {
                exit = $"exit code {process.ExitCode}: ";
            }
        }
        string log = LogFile(run.Name);
        string[] tail = File.Exists(log) ? [.. File.ReadLines(log).TakeLast(5)] : [];
        return exit + (tail.Length == 0 ? "it wrote nothing" : string.Join(" / ", tail.Select(line => line.Trim())));
    }

    /// <summary>Stops a run: a queued one is cancelled, a live child is sent SIGTERM. The problem, or null.</summary>
    public string? Stop(RunEntry run)
    {
        if (run.State == RunStates.Queued)
        {
            return index.Move(run.Name, RunStates.Queued, RunStates.Cancelled, "stopped before it started") ? null
                : $"run '{run.Name}' is no longer queued; try again.";
        }
        if (!run.IsLive)
        {
            return $"run '{run.Name}' is {run.State}, not running.";
        }
        if (run.SubmittedBy is null || run.Pid is not { } pid || run.Host != Environment.MachineName)
        {
            return $"run '{run.Name}' was not started by this service on this machine; stop it through its own API or "
                + "trainer (agent-trainer command stop --url ...).";
        }
        return Kill(pid, SigTerm) == 0 ? null : $"run '{run.Name}' (pid {pid}) could not be signalled; it may have ended.";
    }

    /// <summary>Queues a lost, failed or interrupted run again, to continue from its last checkpoint.</summary>
    public string? Restart(RunEntry run)
    {
        if (run.State is not (RunOutcomes.Lost or RunOutcomes.Failed or RunOutcomes.Interrupted))
        {
            return $"run '{run.Name}' is {run.State}; only a lost, failed or interrupted run is restarted.";
        }
        if (run.Settings is null)
        {
            return $"run '{run.Name}' was not submitted to the service, so it has no settings here; resume it with "
                + $"agent-trainer run --resume --out {run.Folder}.";
        }
        return index.Requeue(run.Name, run.State) ? null : $"run '{run.Name}' changed state meanwhile; try again.";
    }

    private static bool IsAlive(int pid)
    {
        try
        {
            using Process process = Process.GetProcessById(pid);
            return !process.HasExited;
        }
        catch (ArgumentException)
        {
            return false;
        }
    }

    public override void Dispose()
    {
        lock (_gate)
        {
            foreach (Process process in _children.Values)
            {
                process.Dispose(); // the runs go on: they are not the service's to end
            }
            _children.Clear();
        }
        base.Dispose();
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);

    [LoggerMessage(Level = LogLevel.Information, Message = "Started run {Run} (pid {Pid})")]
    private static partial void LogStarted(ILogger logger, string run, int pid);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Starting queued runs failed; trying again")]
    private static partial void LogStartFailed(ILogger logger, Exception error);
}

/// <summary>How a run is started: the command line of one <c>agent-trainer run</c>, and its settings checked
/// before it is queued (the host knows the settings' sections; the service does not).</summary>
public interface IRunStarter
{
    /// <summary>The run's command line and environment.</summary>
    ProcessStartInfo StartInfo(string settingsFile, string folder, bool continueRun);

    /// <summary>What is wrong with a settings file for a run in <paramref name="folder"/> (none: it can
    /// start).</summary>
    IReadOnlyList<string> Problems(string settingsFile, string folder);
}

/// <summary>What came of a submission: the queued run, or why not (invalid settings, or a name taken).</summary>
public sealed record SubmitResult(RunEntry? Run, string? Problem, bool IsConflict, bool IsNoSpace = false)
{
    public static SubmitResult Queued(RunEntry run) => new(run, null, false);

    public static SubmitResult Invalid(string problem) => new(null, problem, false);

    public static SubmitResult Conflict(string problem) => new(null, problem, true);

    public static SubmitResult NoSpace(string problem) => new(null, problem, false, IsNoSpace: true);
}
