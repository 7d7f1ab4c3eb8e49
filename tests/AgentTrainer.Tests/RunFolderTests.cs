using System.Net.Http.Json;
using System.Text.Json;
using System.Text.Json.Nodes;
using AgentTrainer.Core.Records;
using AgentTrainer.Tests.ControlPlane;

namespace AgentTrainer.Tests;

/// <summary>The run folder is the user's: their files are never touched, a finished or stopped run is never
/// wiped or silently redone, a torn or damaged run resumes from what is sound, and one process holds a
/// folder at a time. Each test runs the real command as a process, as a user would.</summary>
public sealed class RunFolderTests : IDisposable
{
    private readonly string _folder = TestFolders.Create("run-folder");
    private string Out => Path.Combine(_folder, "run");

    public void Dispose() => TestFolders.Delete(_folder);

    private static string[] Run(string folder, params string[] extra) =>
        ["run", "--task", "synthetic", "--threads", "1", "--agent", "none", "--api", "false", "--out", folder, .. extra];

    private static Task<(int ExitCode, string Output, string Error)> Start(params string[] arguments) => AgentTrainerProcess.RunAsync(arguments);

    /// <summary>Every file under the folder with its bytes: what "nothing was touched" compares.</summary>
    private static Dictionary<string, string> Snapshot(string folder) =>
        Directory.EnumerateFiles(folder, "*", SearchOption.AllDirectories)
            .ToDictionary(file => Path.GetRelativePath(folder, file), file => Convert.ToHexString(File.ReadAllBytes(file)));

    /// <summary>Asks the run to stop (it writes a checkpoint and its host shuts down: no answer is awaited).</summary>
    private static async Task Stop(HttpClient api)
    {
        using (await api.PostAsync("/api/commands", new StringContent("""{"kind":"stop"}""", System.Text.Encoding.UTF8, "application/json")))
        {
        }
    }

    [Fact]
    public async Task A_folder_holding_a_users_files_is_refused_and_nothing_in_it_is_touched()
    {
        Directory.CreateDirectory(Path.Combine(Out, "checkpoints"));
        File.WriteAllText(Path.Combine(Out, "checkpoints", "model.pt"), "weights of mine");
        File.WriteAllText(Path.Combine(Out, "notes.txt"), "my notes");
        Dictionary<string, string> before = Snapshot(Out);

        (int exit, string output, string error) = await Start(Run(Out, "--steps", "20"));

        Assert.Equal(2, exit);
        Assert.Contains($"{Out} holds files that are not an AgentTrainer run (checkpoints/model.pt, notes.txt). Nothing was changed",
            output + error, StringComparison.Ordinal);
        Assert.Equal(before, Snapshot(Out)); // not a byte changed, added (not even a lock file) or removed
        Assert.Equal(["checkpoints", "checkpoints/model.pt", "notes.txt"],
            Directory.EnumerateFileSystemEntries(Out, "*", SearchOption.AllDirectories).Select(e => Path.GetRelativePath(Out, e)).Order());
    }

    [Fact]
    public async Task A_completed_run_is_never_redone_by_the_same_command_resume_extends_it_and_new_archives_it()
    {
        Assert.Equal(0, (await Start(Run(Out, "--steps", "30"))).ExitCode);
        Dictionary<string, string> finished = Snapshot(Out);

        (int again, string output, string error) = await Start(Run(Out, "--steps", "30"));
        Assert.Equal(2, again);
        Assert.Contains("holds a completed run (30 steps, session 1", output + error, StringComparison.Ordinal);
        Assert.Contains("Continue it with --resume and --steps above its end, start over there with --new", output + error, StringComparison.Ordinal);
        Assert.Equal(finished.Where(f => f.Key != "run.lock"), Snapshot(Out).Where(f => f.Key != "run.lock"));

        Assert.Equal(2, (await Start(Run(Out, "--steps", "30", "--resume"))).ExitCode); // nothing to extend
        Assert.Equal(0, (await Start(Run(Out, "--steps", "50", "--resume"))).ExitCode);
        RunSummary extended = RunRecordReader.ReadSummary(Out)!;
        Assert.Equal((RunOutcomes.Completed, 2, "ckpt-000030-b0", 50L), (extended.Status, extended.Session, extended.ResumedFrom, extended.Final!.Steps));
        (IReadOnlyList<Core.Metrics.StepMetrics> steps, _) = RunRecordReader.ReadMetrics(Out);
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (long)i), steps.Select(s => s.Step)); // each step once, in order

        Assert.Equal(0, (await Start(Run(Out, "--steps", "10", "--new"))).ExitCode);
        string archived = Assert.Single(Directory.GetDirectories(Path.Combine(Out, "archive")));
        Assert.Equal((RunOutcomes.Completed, 2), (RunRecordReader.ReadSummary(archived)!.Status, RunRecordReader.ReadSummary(archived)!.Session));
        Assert.True(File.Exists(Path.Combine(archived, "checkpoints", "ckpt-000050-b0.ckpt")));
        Assert.Equal((1, 10L), (RunRecordReader.ReadSummary(Out)!.Session, RunRecordReader.ReadSummary(Out)!.Final!.Steps));
    }

    [Fact]
    public async Task A_run_stopped_through_the_API_keeps_its_records_and_continues_only_on_resume()
    {
        long stoppedAt;
        using (var process = new AgentTrainerProcess(["run", "--task", "synthetic", "--threads", "1", "--agent", "none", "--steps", "100000", "--out", Out]))
        {
            using HttpClient api = await ProcessApi.ConnectAsync(process);
            await ProcessApi.UntilRunAsync(api, run => run.GetProperty("step").GetInt64() >= 40, "40 steps");
            await Stop(api);
            (int exit, _, string error) = await process.WaitAsync(TimeSpan.FromMinutes(1));
            Assert.True(exit == 0, error);
        }
        RunSummary stopped = RunRecordReader.ReadSummary(Out)!;
        stoppedAt = stopped.Final!.Steps;
        Assert.Equal(RunOutcomes.Stopped, stopped.Status);
        string[] checkpoints = Directory.GetFiles(Path.Combine(Out, "checkpoints"));

        (int same, string output, string error2) = await Start(Run(Out, "--steps", "100000"));
        Assert.Equal(2, same);
        Assert.Contains("holds a stopped run", output + error2, StringComparison.Ordinal);
        Assert.Equal(checkpoints, Directory.GetFiles(Path.Combine(Out, "checkpoints")));
        Assert.Equal(1, RunRecordReader.ReadSummary(Out)!.Session);

        (int resumed, _, string error3) = await Start(Run(Out, "--steps", (stoppedAt + 20).ToString(System.Globalization.CultureInfo.InvariantCulture), "--resume"));
        Assert.True(resumed == 0, error3);
        RunSummary continued = RunRecordReader.ReadSummary(Out)!;
        Assert.Equal((2, $"ckpt-{stoppedAt:D6}-b0", stoppedAt + 20), (continued.Session, continued.ResumedFrom, continued.Final!.Steps));
    }

    [Fact]
    public async Task A_run_whose_run_json_a_kill_tore_resumes_from_its_checkpoints_instead_of_starting_afresh()
    {
        string[] options = ["--checkpoint-every", "20", "--checkpoints-kept", "0", "--log-every", "10"];
        using (var process = new AgentTrainerProcess(Run(Out, [.. options, "--steps", "100000"])))
        {
            await ProcessApi.UntilAsync(() => Task.FromResult(File.Exists(Path.Combine(Out, "checkpoints", "ckpt-000060-b0.ckpt"))), "three checkpoints");
            process.Signal("KILL");
            await process.WaitAsync(TimeSpan.FromSeconds(30));
        }
        string summary = Path.Combine(Out, "run.json");
        File.WriteAllText(summary, File.ReadAllText(summary)[..40]); // torn mid-write
        string[] checkpoints = Directory.GetFiles(Path.Combine(Out, "checkpoints"), "*.ckpt");
        long latest = checkpoints.Max(file => long.Parse(Path.GetFileName(file)[5..11], System.Globalization.CultureInfo.InvariantCulture));

        (int exit, _, string error) = await Start(Run(Out, [.. options, "--steps", (latest + 20).ToString(System.Globalization.CultureInfo.InvariantCulture)]));

        Assert.True(exit == 0, error);
        RunSummary resumed = RunRecordReader.ReadSummary(Out)!;
        Assert.Equal(2, resumed.Session); // one run_started in the events: this is the second session
        Assert.Equal(($"ckpt-{latest:D6}-b0", latest + 20), (resumed.ResumedFrom, resumed.Final!.Steps));
        Assert.All(checkpoints, file => Assert.True(File.Exists(file), file)); // the first session's checkpoints are all there
    }

    [Fact]
    public async Task A_second_process_on_a_live_run_folder_is_refused_naming_the_first_and_the_records_stay_whole()
    {
        using var first = new AgentTrainerProcess(["run", "--task", "synthetic", "--threads", "1", "--agent", "none", "--steps", "100000", "--out", Out]);
        using HttpClient api = await ProcessApi.ConnectAsync(first);
        await ProcessApi.UntilRunAsync(api, run => run.GetProperty("step").GetInt64() >= 100, "100 steps");

        (int exit, string output, string error) = await Start(Run(Out, "--steps", "100000"));
        Assert.Equal(2, exit);
        Assert.Contains($"is in use by another agent-trainer process (pid {first.Id} on host {Environment.MachineName}, session 1", output + error,
            StringComparison.Ordinal);

        await Stop(api);
        await first.WaitAsync(TimeSpan.FromMinutes(1));
        string[] lines = File.ReadAllLines(Path.Combine(Out, "metrics.jsonl"));
        Assert.All(lines, line => JsonNode.Parse(line)); // no interleaved, corrupt lines
        long[] trainSteps = [.. lines.Select(l => JsonNode.Parse(l)!).Where(l => (string?)l["kind"] == "train").Select(l => (long)l["step"]!)];
        Assert.Equal(trainSteps.Length, trainSteps.Distinct().Count());
        Assert.Equal(RunRecordReader.ReadSummary(Out)!.Final!.Steps, trainSteps.Length);
    }

    [Fact]
    public async Task Resume_passes_over_a_corrupt_checkpoint_and_one_of_another_model_for_the_newest_good_one_and_says_so()
    {
        Assert.Equal(0, (await Start(Run(Out, "--steps", "30", "--checkpoint-every", "10"))).ExitCode);
        string checkpoints = Path.Combine(Out, "checkpoints");
        string corrupt = Path.Combine(checkpoints, "ckpt-000030-b0.ckpt");
        byte[] bytes = File.ReadAllBytes(corrupt);
        bytes[^10] ^= 0xFF;
        File.WriteAllBytes(corrupt, bytes);
        // A checkpoint of another model (a tiny char-lm) dropped in under a newer name.
        string other = Path.Combine(_folder, "other");
        Assert.Equal(0, (await Start(["run", "--task", "char-lm", "--steps", "2", "--layers", "1", "--embedding-size", "16", "--heads", "2",
            "--context-length", "8", "--eval-batches", "1", "--threads", "1", "--agent", "none", "--api", "false", "--out", other])).ExitCode);
        string foreign = Path.Combine(checkpoints, "ckpt-000040-b0.ckpt");
        File.Copy(Path.Combine(other, "checkpoints", "ckpt-000002-b0.ckpt"), foreign);
        File.SetLastWriteTimeUtc(foreign, DateTime.UtcNow.AddMinutes(1));

        (int exit, string output, string error) = await Start(Run(Out, "--steps", "35", "--checkpoint-every", "10", "--resume"));

        Assert.True(exit == 0, error);
        RunSummary resumed = RunRecordReader.ReadSummary(Out)!;
        Assert.Equal(("ckpt-000020-b0", 35L), (resumed.ResumedFrom, resumed.Final!.Steps));
        CheckpointSkippedEvent[] skipped = [.. RunRecordReader.ReadEvents(Out).OfType<CheckpointSkippedEvent>()];
        Assert.Contains(skipped, s => s.Path == corrupt && s.Problem.Contains("SHA-256 checksum does not match", StringComparison.Ordinal));
        Assert.Contains(skipped, s => s.Path == foreign && s.Problem.Contains("was taken from another model (char-lm CharGpt", StringComparison.Ordinal));
        Assert.Contains("skipped (left where it is)", output + error, StringComparison.Ordinal);
        Assert.True(File.Exists(foreign)); // not ours: left where it is
    }

    [Fact]
    public async Task Continuing_a_run_with_another_model_is_refused_naming_both_settings()
    {
        Assert.Equal(0, (await Start(Run(Out, "--steps", "10"))).ExitCode);
        (int exit, string output, string error) = await Start(Run(Out, "--steps", "20", "--resume", "--optimizer", "sgd"));
        Assert.Equal(2, exit);
        Assert.Contains("was made with another model: --optimizer (Training:Optimizer) was adamw, now sgd.", output + error, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", output + error, StringComparison.Ordinal);
        Assert.Equal((RunOutcomes.Completed, 1), (RunRecordReader.ReadSummary(Out)!.Status, RunRecordReader.ReadSummary(Out)!.Session));
    }

    [Fact]
    public async Task A_fault_on_a_layer_the_model_lacks_is_refused_at_the_start_not_when_it_strikes()
    {
        (int exit, string output, string error) = await Start(Run(Out, "--steps", "20", "--fault", "zero-layer:step=5,layer=x"));
        Assert.Equal(2, exit);
        Assert.Contains("--fault #1 (Training:Faults:0): the model has no layer 'x'; layers: hidden1, hidden2, output.", output + error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(Out, "run.json"))); // no run started
        Assert.Equal(0, (await Start(Run(Out, "--steps", "20", "--fault", "zero-layer:step=5,layer=hidden1"))).ExitCode); // the folder is usable
    }
}
