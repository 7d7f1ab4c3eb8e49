using AgentTrainer.Eval.Suites;

namespace AgentTrainer.Eval.Figures;

/// <summary>A scenario's contestants side by side, with its one-line verdict.</summary>
public sealed record ScenarioResult(Scenario Scenario, IReadOnlyList<ContestantResult> Contestants, string Verdict);

/// <summary>Groups run figures by scenario and contestant and compares each contestant with the
/// baseline seed by seed, and (healthy scenarios) with the oracle's best constant lr.</summary>
public static class ResultsTable
{
    public static IReadOnlyList<ScenarioResult> Build(Suite suite, IReadOnlyList<RunFigures> runs)
    {
        var results = new List<ScenarioResult>();
        foreach (Scenario scenario in suite.Scenarios)
        {
            RunFigures[] own = [.. runs.Where(r => r.Scenario == scenario.Name)];
            Dictionary<int, double> baseline = own.Where(r => r.Contestant == suite.Baseline && r.FinalValLoss is not null)
                .ToDictionary(r => r.Seed, r => r.FinalValLoss!.Value);
            Dictionary<int, double> baselineBest = own.Where(r => r.Contestant == suite.Baseline && r.BestValLoss is not null)
                .ToDictionary(r => r.Seed, r => r.BestValLoss!.Value);
            Dictionary<int, double> oracle = own.Where(r => r.Contestant.StartsWith(OracleNames.Prefix, StringComparison.Ordinal) && r.FinalValLoss is not null)
                .GroupBy(r => r.Seed).ToDictionary(g => g.Key, g => g.Min(r => r.FinalValLoss!.Value));
            var contestants = new List<ContestantResult>();
            foreach (IGrouping<string, RunFigures> group in own.GroupBy(r => r.Contestant))
            {
                RunFigures[] seeds = [.. group.OrderBy(r => r.Seed)];
                contestants.Add(new ContestantResult
                {
                    Scenario = scenario.Name,
                    Contestant = group.Key,
                    IsOracle = group.Key.StartsWith(OracleNames.Prefix, StringComparison.Ordinal),
                    Runs = seeds,
                    OracleRatio = oracle.Count == 0 ? null
                        : Spread.Of(seeds.Select(r => r.FinalValLoss is { } f && oracle.TryGetValue(r.Seed, out double best) ? f / best : (double?)null)),
                    BeatsBaseline = seeds.Count(r => r.FinalValLoss is { } f && baseline.TryGetValue(r.Seed, out double b) && f < b),
                    MeetsKeepBar = seeds.Count(r => r.FinalValLoss is { } f && baseline.TryGetValue(r.Seed, out double b)
                        && f <= b * (1 + ExpectationBars.KeepTolerance) && r.InterventionsPer1000Steps <= ExpectationBars.KeepInterventionsPer1000Steps),
                    VersusBaseline = Spread.Of(seeds.Select(r => r.FinalValLoss is { } f && baseline.TryGetValue(r.Seed, out double b) ? f / b - 1 : (double?)null))?.Mean,
                    DoesNoHarm = seeds.Count(r => r.FinalValLoss is { } f && r.BestValLoss is { } best
                        && baseline.TryGetValue(r.Seed, out double b) && baselineBest.TryGetValue(r.Seed, out double bb)
                        && f <= b * (1 + ExpectationBars.NoHarmTolerance) && best <= bb * (1 + ExpectationBars.NoHarmTolerance)),
                });
            }
            // Contestants in the suite's order, the oracle's grid last.
            List<ContestantResult> ordered = [.. suite.Contestants.Select(c => contestants.FirstOrDefault(r => r.Contestant == c.Name)).OfType<ContestantResult>()
                .Concat(contestants.Where(r => r.IsOracle).OrderBy(r => r.Contestant, StringComparer.Ordinal))];
            results.Add(new ScenarioResult(scenario, ordered, Verdict(scenario, suite, ordered)));
        }
        return results;
    }

    /// <summary>The best contestant by mean final validation loss (the headline figure), and for each
    /// contestant with an agent whether it did what the scenario expects of a good agent.</summary>
    private static string Verdict(Scenario scenario, Suite suite, IReadOnlyList<ContestantResult> contestants)
    {
        ContestantResult[] ranked = [.. contestants.Where(c => !c.IsOracle && c.FinalValLoss is not null).OrderBy(c => c.FinalValLoss!.Mean)];
        if (ranked.Length == 0)
        {
            return $"{scenario.Name}: no finished run has a final validation loss.";
        }
        ContestantResult best = ranked[0];
        string verdict = $"{scenario.Name}: best is **{best.Contestant}** (final val loss {Format.Spread(best.FinalValLoss)}"
            + (best.Contestant != suite.Baseline && best.VersusBaseline is { } versus ? $", {Format.Percent(versus)} vs {suite.Baseline}" : "") + ")";
        var checks = new List<string>();
        foreach (ContestantResult contestant in contestants.Where(c => !c.IsOracle && c.Contestant != suite.Baseline && HasAgent(suite, c.Contestant)))
        {
            int seeds = contestant.Runs.Count;
            checks.Add(scenario.Expect == ScenarioExpectation.Improve
                ? $"{contestant.Contestant} beats {suite.Baseline} in {contestant.BeatsBaseline}/{seeds} seeds"
                : $"{contestant.Contestant} keeps within 2% of {suite.Baseline} with ≤1 intervention/1000 steps in {contestant.MeetsKeepBar}/{seeds} seeds");
            checks.Add($"{contestant.Contestant} does no harm (final and best within 2% of {suite.Baseline} or better) in {contestant.DoesNoHarm}/{seeds} seeds");
        }
        return checks.Count == 0 ? verdict + "." : $"{verdict}; {string.Join("; ", checks)}.";
    }

    private static bool HasAgent(Suite suite, string contestant) =>
        suite.Contestants.FirstOrDefault(c => c.Name == contestant)?.Agent is { } agent && agent != Core.Options.AgentProviders.None;
}
