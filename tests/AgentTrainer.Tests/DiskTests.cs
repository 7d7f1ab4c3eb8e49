using System.Diagnostics;
using System.Text.Json.Nodes;

namespace AgentTrainer.Tests;

/// <summary>A disk that is read-only, or fills up mid-run: a real one, a small tmpfs mounted in a mount
/// namespace of the test's own (unshare; no root needed), with the real command running on it.</summary>
public sealed class DiskTests
{
    private const string Mount = "/mnt";
    private const string Marker = "=== after the run ===";

    /// <summary>Mounts a tmpfs at /mnt (in a private namespace), runs <paramref name="prepare"/>, then
    /// agent-trainer, then <paramref name="inspect"/> (whose output follows <see cref="Marker"/>): the
    /// tmpfs goes with the namespace, so what is on it is read there.</summary>
    private static async Task<(int ExitCode, string Log, string After)> OnTmpfs(string size, string prepare, string inspect, params string[] arguments)
    {
        string command = string.Join(' ', new[] { "dotnet", Path.Combine(AppContext.BaseDirectory, "agent-trainer.dll") }.Concat(arguments)
            .Select(word => $"'{word}'"));
        string script = $"mount -t tmpfs -o size={size} tmpfs {Mount} && {prepare}; {command}; code=$?; echo '{Marker}'; {inspect}; exit $code";
        var start = new ProcessStartInfo("unshare", ["-Urm", "sh", "-c", script]) { RedirectStandardOutput = true, RedirectStandardError = true };
        using Process process = Process.Start(start)!;
        Task<string> output = process.StandardOutput.ReadToEndAsync();
        Task<string> error = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));
        await process.WaitForExitAsync(timeout.Token);
        string all = await output + await error;
        int at = all.IndexOf(Marker, StringComparison.Ordinal);
        Assert.True(at >= 0, all);
        return (process.ExitCode, all[..at], all[(at + Marker.Length)..]);
    }

    [Fact]
    public async Task A_read_only_disk_is_refused_at_the_start_with_exit_2_naming_the_folder()
    {
        (int exit, string log, _) = await OnTmpfs("1m", $"mkdir {Mount}/run && mount -o remount,ro {Mount}", "true",
            "run", "--task", "synthetic", "--steps", "5", "--api", "false", "--out", $"{Mount}/run");
        Assert.True(exit == 2, log);
        Assert.Contains($"--out (Training:Out): cannot use {Mount}/run as the run folder", log, StringComparison.Ordinal);
        Assert.Contains("Read-only file system", log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_disk_that_fills_mid_run_ends_it_as_failed_saying_so_in_run_json_and_leaves_no_temporary_files()
    {
        (int exit, string log, string after) = await OnTmpfs("640k", "true", $"cat {Mount}/run/run.json; echo; find {Mount} -name '*.tmp'",
            "run", "--task", "synthetic", "--steps", "100000", "--agent", "none", "--api", "false", "--checkpoint-every", "5",
            "--checkpoints-kept", "0", "--out", $"{Mount}/run");
        Assert.True(exit == 1, log);
        Assert.Contains("Training failed: ", log, StringComparison.Ordinal);
        Assert.Contains("No space left on device", log, StringComparison.Ordinal);
        Assert.Contains("continue with --resume", log, StringComparison.Ordinal);
        Assert.DoesNotContain("   at ", log, StringComparison.Ordinal);
        string json = after[..(after.LastIndexOf('}') + 1)];
        JsonNode summary = JsonNode.Parse(json)!;
        Assert.Equal("failed", (string?)summary["status"]);
        Assert.Contains("No space left on device", (string?)summary["error"], StringComparison.Ordinal);
        Assert.DoesNotContain(".tmp", after[(after.LastIndexOf('}') + 1)..], StringComparison.Ordinal);
    }
}
