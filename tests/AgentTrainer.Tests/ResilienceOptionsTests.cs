using AgentTrainer.Agents;

namespace AgentTrainer.Tests;

/// <summary>Polly's settings are checked at start-up against Polly's own rules, each problem naming our key,
/// so a bad value is a configuration error (exit 2) before training, not a run that fails at its first decision.</summary>
public sealed class ResilienceOptionsTests : IDisposable
{
    private readonly string _folder = TestFolders.Create("resilience");

    public void Dispose() => TestFolders.Delete(_folder);

    private static IEnumerable<string> Failures(ResilienceOptions resilience) =>
        new AgentOptionsValidator().Validate(null, new AgentOptions { Resilience = resilience }).Failures ?? [];

    [Fact]
    public void The_shipped_settings_pass() => Assert.Empty(Failures(new ResilienceOptions()));

    [Theory]
    [InlineData(1.5, 4, 20, "BreakerFailureRatio: The field FailureRatio must be between 0 and 1.")]
    [InlineData(0.5, 1, 20, "BreakerMinimumThroughput: ")]
    [InlineData(0.5, 4, 0, "AttemptTimeout: ")]
    public void A_value_Polly_would_refuse_is_an_error_naming_the_key(double ratio, int throughput, int attemptSeconds, string expected)
    {
        string failure = Assert.Single(Failures(new ResilienceOptions
        {
            BreakerFailureRatio = ratio, BreakerMinimumThroughput = throughput, AttemptTimeout = TimeSpan.FromSeconds(attemptSeconds),
        }));
        Assert.StartsWith("Agent:Resilience: ", failure, StringComparison.Ordinal);
        Assert.Contains(expected, failure, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_bad_breaker_ratio_stops_the_command_with_exit_2_before_training()
    {
        string run = Path.Combine(_folder, "run");
        (int exit, _, string error) = await AgentTrainerProcess.RunAsync(
            ["run", "--task", "synthetic", "--steps", "50", "--agent", "rules", "--api", "false", "--out", run],
            new Dictionary<string, string> { ["AGENTTRAINER_Agent__Resilience__BreakerFailureRatio"] = "1.5" });
        Assert.Equal(2, exit);
        Assert.Contains("error: Agent:Resilience: BreakerFailureRatio: The field FailureRatio must be between 0 and 1.", error, StringComparison.Ordinal);
        Assert.False(File.Exists(Path.Combine(run, "metrics.jsonl")));
    }
}
