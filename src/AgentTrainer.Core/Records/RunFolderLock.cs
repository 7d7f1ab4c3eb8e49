namespace AgentTrainer.Core.Records;

/// <summary>One process per run folder: an exclusive OS lock on <c>run.lock</c> in it, held while
/// the run lives and released by the OS when the process ends, however it ends (a SIGKILL included).</summary>
public sealed class RunFolderLock : IDisposable
{
    public const string FileName = "run.lock";
    private readonly FileStream _file;

    private RunFolderLock(FileStream file)
    {
        _file = file;
    }

    /// <summary>Creates the folder if needed and takes its lock. A folder another process holds, or one
    /// that cannot be created or written (a file in the way, a read-only disk), is refused with a
    /// message that says which, and names the other process when its run.json does.</summary>
    public static RunFolderLock Acquire(string folder)
    {
        string path = Path.Combine(folder, FileName);
        try
        {
            if (File.Exists(folder))
            {
                throw new IOException("it is a file, not a folder");
            }
            Directory.CreateDirectory(folder);
            // FileShare.None is an exclusive flock(2) on Unix: released by the kernel with the process.
            var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
            try
            {
                // Who holds it, for a person reading the file (cat does not take the lock); a disk that
                // cannot take these few bytes cannot take a run either, and is refused here.
                RunProcess process = RunProcess.Current;
                string holder = FormattableString.Invariant($"pid {process.Pid} on {process.Host} since {DateTimeOffset.UtcNow:u}\n");
                file.SetLength(0);
                file.Write(System.Text.Encoding.UTF8.GetBytes(holder));
                file.Flush(flushToDisk: true);
                return new RunFolderLock(file);
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }
        catch (IOException) when (File.Exists(path) && HeldByAnother(path))
        {
            throw new Options.RunOptionsException($"--out (Training:Out): {Path.GetFullPath(folder)} is in use by another agent-trainer "
                + $"process{Holder(folder)}. Wait for it to end, stop it (agent-trainer command stop, or its API), or choose another --out.");
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new Options.RunOptionsException($"--out (Training:Out): cannot use {Path.GetFullPath(folder)} as the run folder: {error.Message}");
        }
    }

    /// <summary>Whether a live process (this one included) holds the folder's lock: its run is live.</summary>
    public static bool IsHeld(string folder)
    {
        string path = Path.Combine(folder, FileName);
        return File.Exists(path) && HeldByAnother(path);
    }

    private static bool HeldByAnother(string path)
    {
        try
        {
            using var probe = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return false;
        }
        catch (IOException)
        {
            return true;
        }
    }

    /// <summary>" (pid 123 on host h, session 2, started 2026-11-26 21:03:11Z)" from the live run's run.json.</summary>
    private static string Holder(string folder) =>
        RunRecordReader.TryReadSummary(folder) is { Status: RunOutcomes.Running, Process: { } process } summary
            ? FormattableString.Invariant($" (pid {process.Pid} on host {process.Host}, session {summary.Session}, started {summary.StartedAt:u})")
            : "";

    public void Dispose() => _file.Dispose();
}
