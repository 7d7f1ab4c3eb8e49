using AgentTrainer.Eval.Figures;
using AgentTrainer.Eval.Running;
using AgentTrainer.Eval.Suites;

namespace AgentTrainer.Eval.Reports;

/// <summary>Writes a suite's report into its output folder: results.csv, report.md and plots/, all
/// computed from the run folders' own records (so a report can always be checked against them).</summary>
public static class EvalReport
{
    public static EvalOutcome Write(string outputFolder, ReportContext context, IReadOnlyList<RunResult> results)
    {
        var figures = new List<RunFigures>();
        var curves = new Dictionary<string, List<(string, RunCurve)>>(StringComparer.Ordinal);
        foreach (RunResult result in results.Where(r => r.State != RunState.Failed))
        {
            (RunFigures run, RunCurve curve) = RunFiguresReader.Read(result.Run);
            figures.Add(run);
            int firstSeed = context.Suite.Scenarios.First(s => s.Name == run.Scenario).Seeds[0];
            if (run.Seed == firstSeed && !result.Run.IsOracle)
            {
                curves.TryAdd(run.Scenario, []);
                curves[run.Scenario].Add((run.Contestant, curve));
            }
        }
        IReadOnlyList<ScenarioResult> table = ResultsTable.Build(context.Suite, figures);
        string[] failures = [.. results.Where(r => r.State == RunState.Failed).Select(r => $"`{r.Run.Id}`: {r.Problem}")];

        Directory.CreateDirectory(outputFolder);
        File.WriteAllText(Path.Combine(outputFolder, ResultsCsv.FileName), ResultsCsv.Write(figures));
        IReadOnlyList<GeneratedOutcome> outcomes = FamilyFigures.Outcomes(context.Suite, figures);
        if (context.Suite.IsGenerated)
        {
            IReadOnlyList<FamilyRow> families = FamilyFigures.Rows(outcomes);
            File.WriteAllText(Path.Combine(outputFolder, ResultsCsv.FamiliesFileName), ResultsCsv.Write(families));
            File.WriteAllText(Path.Combine(outputFolder, ReportMarkdown.FileName),
                ReportMarkdown.Write(context, table, failures, (families, outcomes)));
            return new EvalOutcome(table, families);
        }
        string plots = Path.Combine(outputFolder, Plots.Folder);
        Directory.CreateDirectory(plots);
        foreach (ScenarioResult scenario in table)
        {
            string name = scenario.Scenario.Name;
            Plots.WriteCurves(Path.Combine(plots, Plots.CurveFile(name)), $"{name}: validation loss (seed {scenario.Scenario.Seeds[0]})", curves.GetValueOrDefault(name) ?? []);
        }
        Plots.WriteHeadline(Path.Combine(plots, Plots.HeadlineFile), context.Suite.Baseline, [.. context.Suite.Contestants.Select(c => c.Name)], table);
        File.WriteAllText(Path.Combine(outputFolder, ReportMarkdown.FileName), ReportMarkdown.Write(context, table, failures));
        return new EvalOutcome(table, []);
    }
}

/// <summary>What a report says in short: each scenario's verdict, and a generated suite's family figures.</summary>
public sealed record EvalOutcome(IReadOnlyList<ScenarioResult> Scenarios, IReadOnlyList<FamilyRow> Families);
