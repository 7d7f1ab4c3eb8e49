using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;

namespace AgentTrainer.Core.Tests;

/// <summary>The run folder's own files: its lock, records rewritten in one step, a writer whose disk fails.</summary>
public sealed class RunFolderFilesTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("run-folder-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void A_second_holder_of_a_run_folder_is_refused_naming_the_first_and_the_lock_goes_with_the_first()
    {
        string run = Path.Combine(_folder, "run");
        using (RunFolderLock first = RunFolderLock.Acquire(run))
        {
            using (var recorder = new RunRecorder(run, 1))
            {
                recorder.WriteSummary(new RunSummary
                {
                    Status = RunOutcomes.Running, StartedAt = DateTimeOffset.UnixEpoch, Configuration = new TrainingOptions(), Seed = 1,
                    Environment = new RunEnvironment("1", "0.107", ".NET 10", "Debian", "cpu", 1), Session = 2, Process = new RunProcess(4242, "node7"),
                });
            }
            var refused = Assert.Throws<RunOptionsException>(() => RunFolderLock.Acquire(run));
            Assert.Contains("is in use by another agent-trainer process (pid 4242 on host node7, session 2, started 1970-01-01 00:00:00Z)",
                refused.Message, StringComparison.Ordinal);
        }
        // Who held it, for a person with cat (which takes no lock).
        Assert.StartsWith($"pid {Environment.ProcessId} on ", File.ReadAllText(Path.Combine(run, RunFolderLock.FileName)), StringComparison.Ordinal);
        using RunFolderLock again = RunFolderLock.Acquire(run); // released with its holder
    }

    [Fact]
    public void A_run_folder_that_is_a_file_or_under_one_is_refused_naming_it()
    {
        string file = Path.Combine(_folder, "notes.txt");
        File.WriteAllText(file, "mine");
        Assert.Contains($"cannot use {file} as the run folder: it is a file, not a folder",
            Assert.Throws<RunOptionsException>(() => RunFolderLock.Acquire(file)).Message, StringComparison.Ordinal);
        Assert.StartsWith($"--out (Training:Out): cannot use {file}/run as the run folder",
            Assert.Throws<RunOptionsException>(() => RunFolderLock.Acquire(Path.Combine(file, "run"))).Message, StringComparison.Ordinal);
        Assert.Equal("mine", File.ReadAllText(file));
    }

    [Fact]
    public void Dropping_superseded_metrics_keeps_every_other_line_and_each_step_once()
    {
        using (var recorder = new RunRecorder(_folder, 1))
        {
            for (int step = 0; step < 10; step++)
            {
                recorder.OnStep(new StepMetrics(step, 0, 0, 1.0, 1e-3, 0.5, 1, 1, false));
            }
            recorder.OnEvaluation(new EvaluationMetrics(5, 0, 2.0, null, null, []));
            recorder.OnStep(new StepMetrics(6, 0, 1, 1.0, 1e-3, 0.5, 1, 1, false)); // branch 1: not the resumed one
        }
        File.AppendAllText(Path.Combine(_folder, RunRecorder.MetricsFile), "{\"kind\":\"tra"); // torn by a kill
        using (var recorder = new RunRecorder(_folder, 1))
        {
            recorder.DropMetrics((step, branch) => branch == 0 && step >= 5); // the session resumes at step 5 of branch 0
            recorder.OnStep(new StepMetrics(5, 0, 0, 0.9, 1e-3, 0.5, 1, 1, false));
        }
        (IReadOnlyList<StepMetrics> steps, IReadOnlyList<EvaluationMetrics> evaluations) = RunRecordReader.ReadMetrics(_folder);
        Assert.Equal([(0L, 0), (1, 0), (2, 0), (3, 0), (4, 0), (6, 1), (5, 0)], steps.Select(s => (s.Step, s.Branch)));
        Assert.Empty(evaluations);
        Assert.False(File.Exists(Path.Combine(_folder, RunRecorder.MetricsFile + AtomicFile.TemporarySuffix)));
    }

    [Fact]
    public async Task A_writer_whose_disk_is_full_stops_says_why_and_drops_later_lines_instead_of_queueing_them()
    {
        await using var writer = new JsonLinesWriter("/dev/full"); // every write: ENOSPC
        writer.Write(new { step = 1 });
        await Task.Delay(TimeSpan.FromSeconds(5), writer.Failed).ContinueWith(_ => { }, TaskScheduler.Default);
        Assert.True(writer.Failed.IsCancellationRequested);
        Assert.Contains("No space left on device", writer.Failure!.Message, StringComparison.Ordinal);
        writer.Write(new { step = 2 }); // dropped, not queued without end
    }
}
