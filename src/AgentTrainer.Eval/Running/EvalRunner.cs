using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentTrainer.Core.Records;

namespace AgentTrainer.Eval.Running;

/// <summary>How to start the agent-trainer command (the eval harness runs each run as its own process:
/// libtorch's thread settings are per process, and a crash takes one run down, not the suite).</summary>
public sealed record RunCommand(string FileName, IReadOnlyList<string> LeadingArguments);

/// <summary>What became of one run: reused from an earlier invocation, run now, or failed (and why).</summary>
public sealed record RunResult(RunSpec Run, RunState State, double Seconds, string? Problem = null);

public enum RunState
{
    Reused,
    Ran,
    Failed,
}

/// <summary>Told as runs start and finish (the command line draws its progress bar from this).</summary>
public interface IEvalProgress
{
    void Started(RunSpec run);

    void Finished(RunResult result);
}

/// <summary>Runs a plan: up to <c>jobs</c> processes at a time; a replay starts once the run it replays
/// has finished. A run whose folder already holds a finished run of the same settings and input files
/// (same fingerprint) is reused, so an interrupted suite resumes where it stopped; an unfinished one
/// is started again from scratch, because a half-run resumed would not be the same run.</summary>
public sealed class EvalRunner(RunCommand command, int jobs, IEvalProgress progress)
{
    public const string SettingsFile = "settings.json";
    public const string RecordFile = "eval-run.json";
    public const string LogFile = "run.log";
    private static readonly JsonSerializerOptions Indented = new() { WriteIndented = true };

    public async Task<IReadOnlyList<RunResult>> RunAsync(IReadOnlyList<RunSpec> runs, CancellationToken cancellation)
    {
        using var slots = new SemaphoreSlim(Math.Max(1, jobs));
        var tasks = new Dictionary<string, Task<RunResult>>(StringComparer.Ordinal);
        // Sources before replays: a replay's task awaits its source's.
        foreach (RunSpec run in runs.OrderBy(r => r.ReplayOf is null ? 0 : 1))
        {
            Task<RunResult>? source = run.ReplayOf is { } id ? tasks.GetValueOrDefault(id) : null;
            tasks[run.Id] = RunOneAsync(run, source, slots, cancellation);
        }
        return await Task.WhenAll(runs.Select(run => tasks[run.Id])).ConfigureAwait(false);
    }

    /// <summary>Whether the folder holds a finished run of exactly these settings and inputs.</summary>
    public static bool IsDone(RunSpec run)
    {
        string record = Path.Combine(run.Folder, RecordFile);
        if (!File.Exists(record))
        {
            return false;
        }
        try
        {
            string? fingerprint = JsonNode.Parse(File.ReadAllText(record))?["fingerprint"]?.GetValue<string>();
            return fingerprint == Fingerprint(run) && RunRecordReader.TryReadSummary(run.RunFolder)?.Status is { } status && IsFinished(status);
        }
        catch (JsonException)
        {
            return false;
        }
    }

    /// <summary>SHA-256 of the settings and of every file the run reads that is not data (policy,
    /// prompts, a replayed transcript): if any changes, the run is a different run.</summary>
    public static string Fingerprint(RunSpec run)
    {
        using var hash = IncrementalHash.CreateHash(HashAlgorithmName.SHA256);
        hash.AppendData(Encoding.UTF8.GetBytes(run.Settings.ToJsonString()));
        foreach (string input in run.Inputs)
        {
            hash.AppendData(Encoding.UTF8.GetBytes(input));
            if (File.Exists(input))
            {
                hash.AppendData(File.ReadAllBytes(input));
            }
        }
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static bool IsFinished(string status) =>
        status is RunOutcomes.Completed or RunOutcomes.Diverged or RunOutcomes.Stopped or RunOutcomes.OutOfBudget;

    private async Task<RunResult> RunOneAsync(RunSpec run, Task<RunResult>? source, SemaphoreSlim slots, CancellationToken cancellation)
    {
        if (source is not null && (await source.ConfigureAwait(false)).State == RunState.Failed)
        {
            return Report(new RunResult(run, RunState.Failed, 0, $"the run it replays ({run.ReplayOf}) failed"));
        }
        await slots.WaitAsync(cancellation).ConfigureAwait(false);
        try
        {
            if (IsDone(run))
            {
                return Report(new RunResult(run, RunState.Reused, 0));
            }
            progress.Started(run);
            return Report(await LaunchAsync(run, cancellation).ConfigureAwait(false));
        }
        finally
        {
            slots.Release();
        }
    }

    private RunResult Report(RunResult result)
    {
        progress.Finished(result);
        return result;
    }

    private async Task<RunResult> LaunchAsync(RunSpec run, CancellationToken cancellation)
    {
        if (Directory.Exists(run.Folder))
        {
            Directory.Delete(run.Folder, recursive: true); // a half-finished or outdated run: start afresh
        }
        Directory.CreateDirectory(run.Folder);
        string settings = Path.Combine(run.Folder, SettingsFile);
        await File.WriteAllTextAsync(settings, run.Settings.ToJsonString(Indented), cancellation).ConfigureAwait(false);

        var start = new ProcessStartInfo(command.FileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string argument in command.LeadingArguments.Concat(["run", "--config", settings]))
        {
            start.ArgumentList.Add(argument);
        }
        // The run's settings are the file alone: the caller's AGENTTRAINER_ variables must not leak in.
        foreach (string key in start.Environment.Keys.Where(k => k.StartsWith("AGENTTRAINER_", StringComparison.OrdinalIgnoreCase)).ToList())
        {
            start.Environment.Remove(key);
        }
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start) ?? throw new InvalidOperationException($"could not start {command.FileName}");
        await using (var log = new StreamWriter(Path.Combine(run.Folder, LogFile)) { AutoFlush = true }) // tail -f works while it runs
        {
            try
            {
                Task output = CopyAsync(process.StandardOutput, log);
                Task errors = CopyAsync(process.StandardError, log);
                await process.WaitForExitAsync(cancellation).ConfigureAwait(false);
                await Task.WhenAll(output, errors).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                throw;
            }
        }
        double seconds = clock.Elapsed.TotalSeconds;
        string? status = RunRecordReader.TryReadSummary(run.RunFolder)?.Status;
        if (status is null || !IsFinished(status))
        {
            string tail = string.Join(" | ", File.ReadLines(Path.Combine(run.Folder, LogFile)).TakeLast(3));
            return new RunResult(run, RunState.Failed, seconds, $"exit code {process.ExitCode}, run.json status {status ?? "missing"}: {tail}");
        }
        string checkpoints = Path.Combine(run.RunFolder, "checkpoints");
        if (Directory.Exists(checkpoints))
        {
            Directory.Delete(checkpoints, recursive: true); // the figures come from the records; a seed and decisions.jsonl reproduce the rest
        }
        var record = new JsonObject
        {
            ["fingerprint"] = Fingerprint(run),
            ["exit_code"] = process.ExitCode,
            ["process_seconds"] = Math.Round(seconds, 3),
            ["finished_at"] = DateTimeOffset.UtcNow.ToString("O"),
        };
        await File.WriteAllTextAsync(Path.Combine(run.Folder, RecordFile), record.ToJsonString(Indented), CancellationToken.None).ConfigureAwait(false);
        return new RunResult(run, RunState.Ran, seconds);
    }

    private static async Task CopyAsync(StreamReader from, StreamWriter to)
    {
        while (await from.ReadLineAsync().ConfigureAwait(false) is { } line)
        {
            lock (to)
            {
                to.WriteLine(line);
            }
        }
    }
}
