using AgentTrainer.Eval.Figures;
using AgentTrainer.Eval.Suites;

namespace AgentTrainer.Core.Tests.Eval;

public sealed class ResultsTableTests
{
    private static readonly Suite Shipped = SuiteLoader.Load("eval/scenarios", "eval/contestants.yaml");

    private static RunFigures Run(string scenario, string contestant, int seed, double final, int halvings = 0, long trained = 1000,
        double? best = null) => new()
    {
        Scenario = scenario, Contestant = contestant, Seed = seed, Status = "completed", FinalValLoss = final, BestValLoss = best ?? final,
        HasFault = false, TrainedSteps = trained,
        LrHalved = halvings, LrDoubled = 0, Rollbacks = 0, StartOvers = 0, RollbacksToWorse = 0, LayerResets = 0, Refused = 0, SentToReview = 0,
        Decisions = 0, ModelCalls = 0,
        InputTokens = 0, OutputTokens = 0, Fallbacks = 0, WallSeconds = 1, Folder = "f",
    };

    [Fact]
    public void AnImproveScenario_CountsTheSeedsWhereTheAgentEndsBelowTheBaseline_AndNamesTheBest()
    {
        const string Name = "01-charlm-lr-too-high";
        RunFigures[] runs =
        [
            Run(Name, "none", 1, 2.6), Run(Name, "none", 2, 2.7), Run(Name, "none", 3, 2.5),
            Run(Name, "rules", 1, 2.0), Run(Name, "rules", 2, 2.1), Run(Name, "rules", 3, 2.6),
            Run(Name, "cosine", 1, 2.3), Run(Name, "cosine", 2, 2.3), Run(Name, "cosine", 3, 2.3),
        ];

        ScenarioResult result = ResultsTable.Build(Shipped, runs).Single(r => r.Scenario.Name == Name);

        ContestantResult rules = result.Contestants.Single(c => c.Contestant == "rules");
        Assert.Equal(2, rules.BeatsBaseline); // seed 3 ended above none's
        Assert.Equal((2.0 + 2.1 + 2.6) / 3, rules.FinalValLoss!.Mean, 9);
        Assert.Equal(0.3214550253664, rules.FinalValLoss.StandardDeviation, 9);
        Assert.Equal(((2.0 / 2.6) + (2.1 / 2.7) + (2.6 / 2.5) - 3) / 3, rules.VersusBaseline!.Value, 9);
        Assert.Equal(["none", "cosine", "rules"], result.Contestants.Select(c => c.Contestant));
        Assert.StartsWith($"{Name}: best is **rules** (final val loss 2.2333 ± 0.3215, ", result.Verdict, StringComparison.Ordinal);
        Assert.Contains("rules beats none in 2/3 seeds; ", result.Verdict, StringComparison.Ordinal);
        Assert.EndsWith("rules does no harm (final and best within 2% of none or better) in 2/3 seeds.", result.Verdict, StringComparison.Ordinal);
    }

    [Fact]
    public void No_harm_needs_both_the_final_and_the_best_loss_within_two_percent_of_the_baseline_in_each_seed()
    {
        const string Name = "08-charlm-healthy-long";
        RunFigures[] runs =
        [
            Run(Name, "none", 1, 2.00, best: 1.90), Run(Name, "none", 2, 2.00, best: 1.90), Run(Name, "none", 3, 2.00, best: 1.90),
            Run(Name, "rules", 1, 2.03, best: 1.93),   // +1.5% both: no harm
            Run(Name, "rules", 2, 1.95, best: 1.95),   // final better, but its best is 2.6% worse: it threw away less, reached less
            Run(Name, "rules", 3, 2.05, best: 1.80),   // best better, final 2.5% worse: harm
        ];

        ContestantResult rules = ResultsTable.Build(Shipped, runs).Single(r => r.Scenario.Name == Name).Contestants.Single(c => c.Contestant == "rules");

        Assert.Equal(1, rules.DoesNoHarm);
        Assert.Equal(((2.03 - 1.93) + 0 + (2.05 - 1.80)) / 3, rules.ThrownAway!.Mean, 9);
    }

    [Fact]
    public void AKeepScenario_AllowsTwoPercent_AndOneInterventionPerThousandSteps_AndComparesWithTheOracle()
    {
        const string Name = "06-fashion-healthy";
        RunFigures[] runs =
        [
            Run(Name, "none", 1, 0.350), Run(Name, "none", 2, 0.350), Run(Name, "none", 3, 0.350),
            Run(Name, "rules", 1, 0.356),                 // +1.7%, no intervention: meets the bar
            Run(Name, "rules", 2, 0.340, halvings: 2),    // better, but 2 interventions in 1000 steps: a false alarm too many
            Run(Name, "rules", 3, 0.358),                 // +2.3%: misses
            Run(Name, "oracle-lr-3e-4", 1, 0.400), Run(Name, "oracle-lr-1e-3", 1, 0.320),
        ];

        ScenarioResult result = ResultsTable.Build(Shipped, runs).Single(r => r.Scenario.Name == Name);

        ContestantResult rules = result.Contestants.Single(c => c.Contestant == "rules");
        Assert.Equal(1, rules.MeetsKeepBar);
        Assert.Contains("rules keeps within 2% of none with ≤1 intervention/1000 steps in 1/3 seeds", result.Verdict, StringComparison.Ordinal);
        Assert.Equal(0.356 / 0.320, rules.OracleRatio!.Mean, 9); // only seed 1 has an oracle
        Assert.Equal(1, rules.OracleRatio.Count);
        Assert.True(result.Contestants[^1].IsOracle);
        Assert.DoesNotContain("oracle", result.Verdict.Split(';')[0], StringComparison.Ordinal); // the grid is a yardstick, not a contestant
    }
}
