using System.Diagnostics;

namespace AgentTrainer.Tests;

/// <summary>Every unreadable or ill-typed source of settings is exit 2 with the file (and line) or the
/// environment variable, the key and what was expected, never a stack trace; a misspelled key is an
/// error with a suggestion, not silently ignored; and nothing is written.</summary>
public sealed class ConfigurationTests : IDisposable
{
    private readonly string _folder = TestFolders.Create("configuration");

    public void Dispose() => TestFolders.Delete(_folder);

    private string Out => Path.Combine(_folder, "run");

    private string File(string name, string content)
    {
        string path = Path.Combine(_folder, name);
        System.IO.File.WriteAllText(path, content);
        return path;
    }

    private async Task<string> Refused(string[] arguments, Dictionary<string, string>? environment = null)
    {
        (int exit, string output, string error) = await AgentTrainerProcess.RunAsync(
            ["run", "--task", "synthetic", "--steps", "5", "--api", "false", "--out", Out, .. arguments], environment);
        Assert.True(exit == 2, $"exit {exit}: {output}{error}");
        Assert.DoesNotContain("   at ", output + error, StringComparison.Ordinal); // no stack trace
        Assert.False(Directory.Exists(Out) && Directory.EnumerateFileSystemEntries(Out).Any(), "something was written");
        return output + error;
    }

    [Fact]
    public async Task A_settings_file_that_is_a_folder_missing_a_device_or_not_a_JSON_object_is_named_with_what_is_wrong()
    {
        Assert.Contains("error: --config /etc: is a folder, not a settings file.", await Refused(["--config", "/etc"]), StringComparison.Ordinal);
        string missing = Path.Combine(_folder, "missing.json");
        Assert.Contains($"error: --config {missing} does not exist.", await Refused(["--config", missing]), StringComparison.Ordinal);
        var clock = Stopwatch.StartNew();
        Assert.Contains("error: --config /dev/zero: is larger than a settings file may be (1,048,576 bytes)",
            await Refused(["--config", "/dev/zero"]), StringComparison.Ordinal);
        Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "it read /dev/zero instead of stopping at the bound");
        string array = File("array.json", "[1, 2]");
        Assert.Contains($"error: --config {array}: not a JSON object of settings: Top-level JSON element must be an object",
            await Refused(["--config", array]), StringComparison.Ordinal);
        string broken = File("broken.json", "{\n  \"Training\": {\n    \"Steps\": 10,,\n  }\n}");
        Assert.Contains($"error: --config {broken}:3: not a JSON object of settings:", await Refused(["--config", broken]), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Misspelled_keys_are_errors_with_a_suggestion_naming_the_file_and_line_or_the_variable()
    {
        string typo = File("typo.json", "{\n  \"Training\": { \"Steps\": 5 },\n  \"Agnet\": { \"Provider\": \"none\" }\n}");
        string output = await Refused(["--config", typo], new() { ["AGENTTRAINER_Agent__Polcy"] = "policies/research.yaml" });
        Assert.Contains($"error: {typo}:3: Agnet: unknown section (did you mean Agent?)", output, StringComparison.Ordinal);
        Assert.Contains("error: environment variable AGENTTRAINER_Agent__Polcy: Agent:Polcy: unknown setting (did you mean Policy?)",
            output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Ill_typed_values_name_the_variable_the_key_and_the_expected_type_all_at_once()
    {
        string output = await Refused([], new()
        {
            ["AGENTTRAINER_Training__EvalEvery"] = "abc",
            ["AGENTTRAINER_Training__LearningRate"] = "fast",
            ["AGENTTRAINER_Agent__PauseWhileDeciding"] = "maybe",
            ["AGENTTRAINER_Agent__Resilience__TotalTimeout"] = "a minute",
        });
        Assert.Contains("error: environment variable AGENTTRAINER_Training__EvalEvery: Training:EvalEvery: 'abc' is not a whole number.", output, StringComparison.Ordinal);
        Assert.Contains("error: environment variable AGENTTRAINER_Training__LearningRate: Training:LearningRate: 'fast' is not a number.",
            output, StringComparison.Ordinal);
        Assert.Contains("error: environment variable AGENTTRAINER_Agent__PauseWhileDeciding: Agent:PauseWhileDeciding: 'maybe' is not true or false.",
            output, StringComparison.Ordinal);
        Assert.Contains("error: environment variable AGENTTRAINER_Agent__Resilience__TotalTimeout: Agent:Resilience:TotalTimeout: "
            + "'a minute' is not a duration (hh:mm:ss, e.g. 00:01:30).", output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_malformed_policy_names_its_file_and_line()
    {
        string policy = File("policy.yaml", "name: x\nlearning_rate:\n  min: [1, 2\n");
        Assert.Contains($"error: --policy (Agent:Policy): {policy}:4: not valid YAML", await Refused(["--agent", "rules", "--policy", policy]),
            StringComparison.Ordinal);
    }

    [Fact]
    public async Task An_output_folder_that_is_a_file_or_under_one_is_refused_and_the_file_is_untouched()
    {
        string file = File("notes.txt", "mine");
        foreach (string output in new[] { file, Path.Combine(file, "run") })
        {
            (int exit, string stdout, string error) = await AgentTrainerProcess.RunAsync(["run", "--task", "synthetic", "--api", "false", "--out", output]);
            Assert.Equal(2, exit);
            Assert.Contains($"--out (Training:Out): cannot use {output} as the run folder", stdout + error, StringComparison.Ordinal);
        }
        Assert.Equal("mine", System.IO.File.ReadAllText(file));
    }
}
