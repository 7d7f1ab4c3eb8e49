using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Records;
using static System.FormattableString;

namespace AgentTrainer.Training.Trainer;

/// <summary>One exploration in progress (explore): its candidates in the order they train — the current settings
/// (×1) first, on the current branch — the state they all start from, and each finished one's figures and end
/// state. Which one wins is decided here; the trainer moves the model.</summary>
internal sealed class Exploration
{
    private readonly List<(ExploredBranch Figures, byte[] State)> _finished = [];

    public Exploration(CommandRecord record, ExploreCommand command, long forkStep, byte[] forkState,
        double baseLearningRate, int round = 1)
    {
        Round = round;
        Record = record;
        Command = command;
        ForkStep = forkStep;
        ForkState = forkState;
        BaseLearningRate = baseLearningRate;
        Factors = [.. command.LearningRateFactors.OrderBy(f => f == 1 ? 0 : 1)]; // stable: the rest keep their order
    }

    public int Round { get; }
    public CommandRecord Record { get; }
    public ExploreCommand Command { get; }
    public long ForkStep { get; }

    /// <summary>The checkpoint kept at the fork (in memory; the branches name it).</summary>
    public required string ForkCheckpointId { get; init; }

    /// <summary>The whole trainer state at the fork: every candidate but the first starts from it.</summary>
    public byte[] ForkState { get; }

    /// <summary>The base lr at the fork, which each candidate's factor multiplies.</summary>
    public double BaseLearningRate { get; }

    public IReadOnlyList<double> Factors { get; }

    /// <summary>The step the candidate training now ends at.</summary>
    public long EndStep => ForkStep + Command.Steps;

    public int Current => _finished.Count;

    public bool Done => _finished.Count == Factors.Count;

    public IReadOnlyList<ExploredBranch> Results => [.. _finished.Select(f => f.Figures)];

    /// <summary>The candidate now training reached <see cref="EndStep"/> on <paramref name="branch"/>.</summary>
    public void Finished(int branch, double valLoss, byte[] state)
    {
        double factor = Factors[Current];
        _finished.Add((new ExploredBranch(branch, factor, BaseLearningRate * factor, valLoss), state));
    }

    /// <summary>The branch to continue, its end state, and why: the lowest validation loss, unless the current
    /// settings were among the candidates and it does not beat them by the command's minimum improvement.</summary>
    public (ExploredBranch Winner, byte[] State, string Reason) Choose()
    {
        (ExploredBranch Figures, byte[] State) best = _finished
            .Where(f => double.IsFinite(f.Figures.ValLoss)).DefaultIfEmpty(_finished[0]).MinBy(f => f.Figures.ValLoss);
        if (_finished[0].Figures.LearningRateFactor != 1 || best.Figures == _finished[0].Figures)
        {
            return (best.Figures, best.State, Invariant($"{Describe(best.Figures)} had the lowest validation loss"));
        }
        (ExploredBranch Figures, byte[] State) current = _finished[0];
        double needed = current.Figures.ValLoss * (1 - Command.MinImprovement);
        return best.Figures.ValLoss < needed || !double.IsFinite(current.Figures.ValLoss)
            ? (best.Figures, best.State, Invariant($"{Describe(best.Figures)} beat the current lr's ")
                + Invariant($"{current.Figures.ValLoss:G4} by more than {Command.MinImprovement:P0}"))
            : (current.Figures, current.State, Invariant($"no lr beat the current one ({current.Figures.ValLoss:G4}) ")
                + Invariant($"by {Command.MinImprovement:P0}; the best other was {Describe(best.Figures)}"));
    }

    /// <summary>A finished candidate of this round on <paramref name="branch"/>: its figures and end state, or null.</summary>
    public (ExploredBranch Figures, byte[] State)? Candidate(int branch) =>
        _finished.Where(f => f.Figures.Branch == branch).Select(f => ((ExploredBranch, byte[])?)f).FirstOrDefault();

    /// <summary>Whether the best the round chose was the lowest or highest factor tried (not the current lr): the best
    /// lr may lie further out.</summary>
    public static bool AtTheEdge(ExploredBranch winner, IReadOnlyList<double> factors) =>
        winner.LearningRateFactor != 1 && (winner.LearningRateFactor == factors.Min() || winner.LearningRateFactor == factors.Max());

    private static string Describe(ExploredBranch branch) =>
        Invariant($"lr x{branch.LearningRateFactor:G3} ({branch.LearningRate:G3}, val {branch.ValLoss:G4})");
}
