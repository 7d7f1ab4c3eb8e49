using AgentTrainer.Core.Records;
using AgentTrainer.Training.Checkpoints;
using AgentTrainer.Training.Trainer;

namespace AgentTrainer.Training;

/// <summary>What an output folder holds from before. An unfinished run (killed, or interrupted by a
/// signal) is continued from its latest checkpoint on disk; anything else (a finished run, stray
/// files) is replaced by the new run.</summary>
public static class RunFolder
{
    private static readonly string[] OwnRecords = [RunRecorder.MetricsFile, RunRecorder.EventsFile, RunRecorder.SummaryFile];

    /// <summary>Finds where to resume, or clears the folder's records (its own and <paramref name="otherRecords"/>,
    /// with SQLite's -wal and -shm companions) for a fresh run.</summary>
    public static ResumePoint? Prepare(string folder, params string[] otherRecords)
    {
        RunSummary? previous = RunRecordReader.TryReadSummary(folder); // unreadable: not a run this version wrote, start afresh
        string checkpoints = Path.Combine(folder, TrainingRun.CheckpointFolder);
        if (previous?.Status is RunOutcomes.Running or RunOutcomes.Interrupted && LatestCheckpoint(checkpoints) is { } latest)
        {
            IReadOnlyList<BranchInfo> branches = [.. RunRecordReader.ReadEvents(folder).OfType<BranchCreatedEvent>()
                .Select(created => new BranchInfo(created.Branch, created.ParentBranch, created.ForkStep, created.CheckpointId))];
            return new ResumePoint(latest.Id, latest.Step, latest.Branch, previous.Session + 1, previous.StartedAt, branches);
        }
        if (!Directory.Exists(folder))
        {
            return null;
        }
        foreach (string name in OwnRecords.Concat(otherRecords).SelectMany(name => new[] { name, name + "-wal", name + "-shm" }))
        {
            File.Delete(Path.Combine(folder, name));
        }
        if (Directory.Exists(checkpoints))
        {
            Directory.Delete(checkpoints, recursive: true);
        }
        return null;
    }

    /// <summary>The checkpoint written last (after a rollback that need not be the highest step).</summary>
    private static (string Id, long Step, int Branch)? LatestCheckpoint(string folder)
    {
        if (!Directory.Exists(folder))
        {
            return null;
        }
        foreach (FileInfo file in new DirectoryInfo(folder).EnumerateFiles("*" + CheckpointFile.Extension).OrderByDescending(f => f.LastWriteTimeUtc))
        {
            try
            {
                TrainerPosition position = CheckpointSerializer.ReadPosition(CheckpointFile.Read(file.FullName));
                return (CheckpointStore.IdFor(position.Step, position.Branch), position.Step, position.Branch);
            }
            catch (CheckpointException)
            {
                // cut short by the kill: the one before it will do
            }
        }
        return null;
    }
}

/// <summary>Where a resumed run continues: the checkpoint, the session number, when the run first
/// started, and the branches earlier sessions created.</summary>
public sealed record ResumePoint(string CheckpointId, long Step, int Branch, int Session, DateTimeOffset FirstStartedAt, IReadOnlyList<BranchInfo> Branches)
{
    /// <summary>Whether a recorded step or evaluation stands: those on the resumed branch from the
    /// checkpoint's step on are done again (and recorded again) by this session.</summary>
    public bool Precedes(long step, int branch) => branch != Branch || step < Step;
}
