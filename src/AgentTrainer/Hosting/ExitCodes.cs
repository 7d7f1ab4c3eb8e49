using AgentTrainer.Core.Records;

namespace AgentTrainer.App.Hosting;

/// <summary>What the agent-trainer process's exit code means (documented in README.md).</summary>
public static class ExitCodes
{
    public const int Success = 0;
    public const int Failed = 1;
    public const int InvalidOptions = 2;
    public const int DataSetProblem = 3;
    public const int Diverged = 4;
    public const int Interrupted = 130;

    public static int ForOutcome(string outcome) => outcome switch
    {
        RunOutcomes.Completed or RunOutcomes.Stopped or RunOutcomes.OutOfBudget => Success,
        RunOutcomes.Diverged => Diverged,
        RunOutcomes.Interrupted => Interrupted,
        _ => Failed,
    };
}

/// <summary>The exit code the hosted training sets for the command to return.</summary>
public sealed class RunExit
{
    public int Code { get; set; } = ExitCodes.Failed;
}
