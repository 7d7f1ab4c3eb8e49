using AgentTrainer.Eval.Running;
using AgentTrainer.Eval.Suites;

namespace AgentTrainer.Eval.Figures;

/// <summary>How one agent did on one generated run, beside the baseline (no agent) and, for a run with a
/// fault, the same run without it (its no-fault twin).</summary>
public sealed record GeneratedOutcome
{
    public required Scenario Scenario { get; init; }
    public required string Contestant { get; init; }
    public required RunFigures Agent { get; init; }
    public required double Baseline { get; init; }
    public double? NoFault { get; init; }
    public double? Oracle { get; init; }

    public double Final => Agent.FinalValLoss ?? double.PositiveInfinity;

    /// <summary>The fault hurt the run: without an agent it ended more than <see cref="FamilyBars.HurtMargin"/>
    /// above its no-fault twin.</summary>
    public bool Hurt => NoFault is { } clean && Baseline > clean * (1 + FamilyBars.HurtMargin);

    public bool Healthy => Scenario.Faults.Count == 0;

    /// <summary>A hurt run the agent repaired: it closed at least half of the gap the fault opened.</summary>
    public bool Repaired => Hurt && Final <= NoFault!.Value + (FamilyBars.RepairShare * (Baseline - NoFault.Value));

    /// <summary>Final loss over the same run's without its fault (1: as if nothing had happened).</summary>
    public double? Recovery => NoFault is { } clean ? Final / clean : null;

    /// <summary>A healthy run the agent made worse: more than 2% above no agent, or busier than one
    /// intervention per 1000 steps.</summary>
    public bool Harmed => Healthy && (Final > Baseline * (1 + ExpectationBars.KeepTolerance)
        || Agent.InterventionsPer1000Steps > ExpectationBars.KeepInterventionsPer1000Steps);

    /// <summary>A run whose fault did not hurt it, ended more than 2% worse than no agent.</summary>
    public bool WorsenedUnhurt => !Healthy && !Hurt && Final > Baseline * (1 + ExpectationBars.KeepTolerance);

    /// <summary>Final loss over the best constant lr of the family's grid, minus 1.</summary>
    public double? Regret => Oracle is { } best ? (Final / best) - 1 : null;
}

/// <summary>A family's figures for one agent (or every family's, under <see cref="All"/>).</summary>
public sealed record FamilyRow
{
    public const string All = "all";

    public required string Family { get; init; }
    public required string Contestant { get; init; }
    public required int Runs { get; init; }
    public required int Hurt { get; init; }
    public required int Repaired { get; init; }
    public required int Healthy { get; init; }
    public required int Harmed { get; init; }
    public required int Unhurt { get; init; }
    public required int WorsenedUnhurt { get; init; }
    public required double? MeanRecovery { get; init; }
    public required double? WorstRecovery { get; init; }
    public required double? MeanRegret { get; init; }
    public required double InterventionsPerRun { get; init; }
    public required double TrainedStepsPerRun { get; init; }

    public double? RepairRate => Hurt == 0 ? null : Repaired / (double)Hurt;
    public double? HarmRate => Healthy == 0 ? null : Harmed / (double)Healthy;
}

public static class FamilyBars
{
    /// <summary>A fault hurt a run when, with no agent, it ended more than this fraction above its no-fault twin.</summary>
    public const double HurtMargin = 0.02;

    /// <summary>A repair closes at least this share of the gap the fault opened.</summary>
    public const double RepairShare = 0.5;
}

/// <summary>Per-family figures of a generated suite: repair rate, recovery, harm rate, regret to the oracle,
/// interventions and trained steps per run.</summary>
public static class FamilyFigures
{
    public static IReadOnlyList<GeneratedOutcome> Outcomes(Suite suite, IReadOnlyList<RunFigures> runs)
    {
        var outcomes = new List<GeneratedOutcome>();
        string[] agents = [.. suite.Contestants.Where(c => c.Name != suite.Baseline
            && c.Agent != Core.Options.AgentProviders.None).Select(c => c.Name)];
        foreach (Scenario scenario in suite.Scenarios.Where(s => s.Family is not null))
        {
            RunFigures[] own = [.. runs.Where(r => r.Scenario == scenario.Name)];
            double? Final(string contestant) => own.FirstOrDefault(r => r.Contestant == contestant)?.FinalValLoss;
            if (Final(suite.Baseline) is not { } baseline)
            {
                continue;
            }
            double? oracle = own.Where(r => r.Contestant.StartsWith(OracleNames.Prefix, StringComparison.Ordinal))
                .Select(r => r.FinalValLoss).OfType<double>().DefaultIfEmpty(double.NaN).Min();
            foreach (string agent in agents)
            {
                if (own.FirstOrDefault(r => r.Contestant == agent) is { FinalValLoss: not null } figures)
                {
                    outcomes.Add(new GeneratedOutcome
                    {
                        Scenario = scenario, Contestant = agent, Agent = figures, Baseline = baseline,
                        NoFault = Final(RunPlanner.NoFaultTwin), Oracle = double.IsNaN(oracle!.Value) ? null : oracle,
                    });
                }
            }
        }
        return outcomes;
    }

    /// <summary>One row per family and agent, in the family file's order, then each agent's row over all.</summary>
    public static IReadOnlyList<FamilyRow> Rows(IReadOnlyList<GeneratedOutcome> outcomes)
    {
        IEnumerable<FamilyRow> families = outcomes.GroupBy(o => (o.Scenario.Family!, o.Contestant))
            .Select(g => Row(g.Key.Item1, g.Key.Contestant, [.. g]));
        IEnumerable<FamilyRow> all = outcomes.GroupBy(o => o.Contestant).Select(g => Row(FamilyRow.All, g.Key, [.. g]));
        return [.. families, .. all];
    }

    private static FamilyRow Row(string family, string contestant, GeneratedOutcome[] runs)
    {
        double[] recoveries = [.. runs.Where(r => r.Hurt).Select(r => r.Recovery).OfType<double>()];
        double[] regrets = [.. runs.Select(r => r.Regret).OfType<double>()];
        return new FamilyRow
        {
            Family = family,
            Contestant = contestant,
            Runs = runs.Length,
            Hurt = runs.Count(r => r.Hurt),
            Repaired = runs.Count(r => r.Repaired),
            Healthy = runs.Count(r => r.Healthy),
            Harmed = runs.Count(r => r.Harmed),
            Unhurt = runs.Count(r => !r.Healthy && !r.Hurt),
            WorsenedUnhurt = runs.Count(r => r.WorsenedUnhurt),
            MeanRecovery = recoveries.Length == 0 ? null : recoveries.Average(),
            WorstRecovery = recoveries.Length == 0 ? null : recoveries.Max(),
            MeanRegret = regrets.Length == 0 ? null : regrets.Average(),
            InterventionsPerRun = runs.Average(r => (double)r.Agent.Interventions),
            TrainedStepsPerRun = runs.Average(r => (double)r.Agent.TrainedSteps),
        };
    }
}
