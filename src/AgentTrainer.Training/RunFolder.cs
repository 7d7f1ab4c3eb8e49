using System.Globalization;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;
using AgentTrainer.Training.Checkpoints;
using AgentTrainer.Training.Trainer;

namespace AgentTrainer.Training;

/// <summary>What an output folder holds from before, and what a new run may do with it. The folder is
/// the user's: a folder holding anything but a run of ours is refused; a run of ours is continued
/// when it was cut short (killed, interrupted), and otherwise only on <c>--resume</c> (continue or
/// extend) or <c>--new</c> (its records move into <c>archive/</c>). Nothing is ever deleted, and files
/// of the user's beside a run are never touched. Call with the folder's <see cref="RunFolderLock"/> held.</summary>
public static class RunFolder
{
    public const string ArchiveFolder = "archive";

    /// <summary>The earlier run to continue, or null for a fresh start (an empty folder, or one just archived).</summary>
    /// <param name="otherRecords">files the run's other parts write into the folder (agent.db, decisions.jsonl)</param>
    public static PreviousRun? Prepare(TrainingOptions options, params string[] otherRecords)
    {
        string folder = options.Out;
        Contents contents = Read(folder);
        if (!contents.HasRun)
        {
            // Empty, or the empty records of a start that failed before its first step: they are reused.
            RefuseForeign(folder, otherRecords);
            return null;
        }
        RunSummary? summary = contents.Summary;
        if (options.ExistingRun == ExistingRunModes.New)
        {
            Archive(folder, Records(otherRecords), Stamp(contents.FirstStartedAt ?? DateTimeOffset.UtcNow));
            return null;
        }
        string status = summary?.Status ?? RunOutcomes.Running; // a torn run.json: the run never finished
        if (summary is not null)
        {
            RefuseOtherModel(folder, summary.Configuration, options);
        }
        if (options.ExistingRun != ExistingRunModes.Resume && status is not (RunOutcomes.Running or RunOutcomes.Interrupted))
        {
            throw new RunOptionsException($"--out (Training:Out): {Path.GetFullPath(folder)} holds a {status} run ({Describe(summary!)}). "
                + $"Continue it with --resume{(status == RunOutcomes.Completed ? " and --steps above its end" : "")}, start over there with "
                + $"--new (its records move to {ArchiveFolder}/, nothing is deleted), or choose another --out.");
        }
        if (status == RunOutcomes.Completed && summary!.Final is { } final && options.Steps <= final.Steps)
        {
            throw new RunOptionsException(string.Create(CultureInfo.InvariantCulture,
                $"--steps (Training:Steps): the run in {Path.GetFullPath(folder)} already completed {final.Steps} steps; "
                + $"give --steps above {final.Steps} to extend it, or --new to start over."));
        }
        int sessions = summary?.Session ?? contents.Events.OfType<RunStartedEvent>().Count();
        return new PreviousRun(sessions + 1, contents.FirstStartedAt ?? DateTimeOffset.UtcNow, contents.Events);
    }

    /// <summary>Refuses a folder that holds something that is not a run of ours (before anything, even
    /// its lock file, is written there). A missing or empty folder, or one holding a run, is fine.</summary>
    public static void RefuseForeign(string folder, params string[] otherRecords)
    {
        if (!Directory.Exists(folder) || Read(folder).HasRun)
        {
            return;
        }
        string[] foreign = [.. ForeignEntries(folder, Records(otherRecords)).Take(6)];
        if (foreign.Length > 0)
        {
            throw new RunOptionsException($"--out (Training:Out): {Path.GetFullPath(folder)} holds files that are not an AgentTrainer run "
                + $"({string.Join(", ", foreign.Take(5))}{(foreign.Length > 5 ? ", ..." : "")}). Nothing was changed; choose an empty "
                + "or new folder with --out.");
        }
    }

    /// <summary>The run in a folder as its records tell it: run.json (null when missing, or torn by a kill
    /// mid-write), the events, and whether there is a run at all (run.json, a start, or a checkpoint of ours).</summary>
    private sealed record Contents(RunSummary? Summary, IReadOnlyList<RunEvent> Events, bool HasRun)
    {
        public DateTimeOffset? FirstStartedAt => Summary?.StartedAt ?? (Events.Count > 0 ? Events[0].Time : null);
    }

    private static Contents Read(string folder)
    {
        RunSummary? summary = RunRecordReader.TryReadSummary(folder);
        IReadOnlyList<RunEvent> events = RunRecordReader.ReadEvents(folder);
        return new Contents(summary, events, summary is not null || events.OfType<RunStartedEvent>().Any() || HasCheckpoints(folder));
    }

    /// <summary>The records a run writes in its folder: its own and the other parts' (with SQLite's companions).</summary>
    private static string[] Records(string[] otherRecords) =>
        [.. OwnRecords, .. otherRecords.SelectMany(name => new[] { name, name + "-wal", name + "-shm" })];

    private static readonly string[] OwnRecords =
        [RunRecorder.MetricsFile, RunRecorder.EventsFile, RunRecorder.SummaryFile, RunRecorder.SummaryFile + AtomicFile.TemporarySuffix];

    private static bool HasCheckpoints(string folder) =>
        Directory.Exists(Path.Combine(folder, TrainingRun.CheckpointFolder))
        && Directory.EnumerateFiles(Path.Combine(folder, TrainingRun.CheckpointFolder), "*" + CheckpointFile.Extension)
            .Any(CheckpointFile.HasOurHeader);

    /// <summary>What in the folder is not ours: top-level entries we do not write, and files in checkpoints/ that are not checkpoints.</summary>
    private static IEnumerable<string> ForeignEntries(string folder, string[] records)
    {
        foreach (string entry in Directory.EnumerateFileSystemEntries(folder).Order(StringComparer.Ordinal))
        {
            string name = Path.GetFileName(entry);
            if (name == TrainingRun.CheckpointFolder && Directory.Exists(entry))
            {
                foreach (string file in Directory.EnumerateFileSystemEntries(entry).Order(StringComparer.Ordinal)
                    .Where(file => !file.EndsWith(CheckpointFile.Extension, StringComparison.Ordinal)
                        && !file.EndsWith(CheckpointFile.Extension + AtomicFile.TemporarySuffix, StringComparison.Ordinal)))
                {
                    yield return $"{name}/{Path.GetFileName(file)}";
                }
            }
            else if (name != RunFolderLock.FileName && name != ArchiveFolder && !records.Contains(name))
            {
                yield return Directory.Exists(entry) ? name + "/" : name;
            }
        }
    }

    /// <summary>The options that shape the model and its optimizer state must match the run being continued.</summary>
    private static void RefuseOtherModel(string folder, TrainingOptions before, TrainingOptions now)
    {
        static string ModelOf(TrainingOptions o) => o.Model.Length > 0 ? o.Model : ModelNames.ForTask(o.Task)[0];
        var differences = new List<string>();
        void Compare(string option, string key, object earlier, object later)
        {
            if (!Equals(earlier, later))
            {
                differences.Add(string.Create(CultureInfo.InvariantCulture, $"{option} (Training:{key}) was {earlier}, now {later}"));
            }
        }
        Compare("--task", "Task", before.Task, now.Task);
        Compare("--model", "Model", ModelOf(before), ModelOf(now));
        Compare("--optimizer", "Optimizer", before.Optimizer, now.Optimizer);
        if (now.Task == TaskNames.CharLm && before.Task == TaskNames.CharLm)
        {
            Compare("--context-length", "CharLm:ContextLength", before.CharLm.ContextLength, now.CharLm.ContextLength);
            Compare("--embedding-size", "CharLm:EmbeddingSize", before.CharLm.EmbeddingSize, now.CharLm.EmbeddingSize);
            Compare("--layers", "CharLm:Layers", before.CharLm.Layers, now.CharLm.Layers);
            Compare("--heads", "CharLm:Heads", before.CharLm.Heads, now.CharLm.Heads);
        }
        if (differences.Count > 0)
        {
            throw new RunOptionsException($"--out (Training:Out): the run in {Path.GetFullPath(folder)} was made with another model: "
                + $"{string.Join("; ", differences)}. Continue it with its own options, start over there with --new "
                + "(its records move to archive/), or choose another --out.");
        }
    }

    /// <summary>Moves the folder's run records (and checkpoints) into archive/NAME/; nothing else is touched.</summary>
    private static void Archive(string folder, string[] records, string name)
    {
        string[] present = [.. records.Where(record => File.Exists(Path.Combine(folder, record)))];
        string checkpoints = Path.Combine(folder, TrainingRun.CheckpointFolder);
        bool hasCheckpoints = Directory.Exists(checkpoints) && Directory.EnumerateFileSystemEntries(checkpoints).Any();
        if (present.Length == 0 && !hasCheckpoints)
        {
            return;
        }
        string target = Path.Combine(folder, ArchiveFolder, name);
        for (int suffix = 2; Directory.Exists(target); suffix++)
        {
            target = Path.Combine(folder, ArchiveFolder, $"{name}-{suffix}");
        }
        Directory.CreateDirectory(target);
        foreach (string record in present)
        {
            File.Move(Path.Combine(folder, record), Path.Combine(target, record));
        }
        if (hasCheckpoints)
        {
            Directory.Move(checkpoints, Path.Combine(target, TrainingRun.CheckpointFolder));
        }
    }

    private static string Stamp(DateTimeOffset startedAt) =>
        startedAt.UtcDateTime.ToString("yyyy-MM-dd'T'HH-mm-ss'Z'", CultureInfo.InvariantCulture);

    private static string Describe(RunSummary summary) =>
        string.Create(CultureInfo.InvariantCulture, $"{summary.Final?.Steps ?? 0} steps, session {summary.Session}, started {summary.StartedAt:u}");
}

/// <summary>An earlier run in the folder, to be continued as the next session: its number, when the
/// run first started, and everything it recorded as events (branches, faults that struck, commands).</summary>
public sealed record PreviousRun(int Session, DateTimeOffset FirstStartedAt, IReadOnlyList<RunEvent> Events)
{
    public IEnumerable<BranchInfo> Branches => Events.OfType<BranchCreatedEvent>()
        .Select(created => new BranchInfo(created.Branch, created.ParentBranch, created.ForkStep, created.CheckpointId));

    public IEnumerable<(string Kind, long Step)> FaultsStruck => Events.OfType<FaultInjectedEvent>().Select(fault => (fault.Kind, fault.Step));
}
