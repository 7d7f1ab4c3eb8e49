using System.Globalization;
using System.Text;
using AgentTrainer.Core.Text;
using AgentTrainer.Eval.Figures;

namespace AgentTrainer.Eval.Reports;

/// <summary>The part of report.md a generated suite adds: the figures per family, then one line per run
/// (a distribution of hundreds of runs is read as a table, not as hundreds of sections).</summary>
public static class FamilyMarkdown
{
    public static void Write(StringBuilder md, string baseline, IReadOnlyList<FamilyRow> rows,
        IReadOnlyList<GeneratedOutcome> outcomes)
    {
        md.AppendLine("## Families").AppendLine();
        md.AppendLine($"Each run is compared with **{baseline}** (no agent) on the same "
            + "settings and seed, and a run with a fault also with its no-fault twin (the same run without the fault). "
            + $"Hurt: the fault left {baseline} more than {Pct(FamilyBars.HurtMargin)} above its twin. Repaired: the "
            + $"agent closed at least {Pct(FamilyBars.RepairShare)} of that gap. Recovery: final loss over the twin's, "
            + $"mean (worst) over hurt runs. Harmed: a healthy run (no fault) ending more than 2% above {baseline}, or "
            + "with more than one intervention per 1000 trained steps. Regret: final loss over the best constant lr of "
            + "the family's grid, minus 1.").AppendLine();
        md.AppendLine("| family | agent | runs | repair rate (repaired / hurt) | recovery mean (worst) | harm rate "
            + "(harmed / healthy) | unhurt by their fault, made worse | regret | interventions / run | trained steps / run |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (FamilyRow row in rows)
        {
            string family = row.Family == FamilyRow.All ? "**all**" : row.Family;
            md.AppendLine(
                $"| {family} | {MarkdownText.Cell(row.Contestant)} | {row.Runs} "
                + $"| {Rate(row.RepairRate, row.Repaired, row.Hurt)} "
                + $"| {Format.Number(row.MeanRecovery, 3)} ({Format.Number(row.WorstRecovery, 3)}) "
                + $"| {Rate(row.HarmRate, row.Harmed, row.Healthy)} | {row.WorsenedUnhurt} / {row.Unhurt} "
                + $"| {(row.MeanRegret is { } r ? Format.Percent(r) : "—")} | {Format.Number(row.InterventionsPerRun, 2)} "
                + $"| {Format.Number(row.TrainedStepsPerRun, 0)} |");
        }
        md.AppendLine().AppendLine("## Runs").AppendLine();
        md.AppendLine($"| scenario | agent | drawn | {baseline} | agent | no fault | recovery | interventions | outcome |");
        md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
        foreach (GeneratedOutcome run in outcomes)
        {
            md.AppendLine(
                $"| {run.Scenario.Name} | {MarkdownText.Cell(run.Contestant)} | {MarkdownText.Cell(Drawn(run))} "
                + $"| {Format.Number(run.Baseline)} "
                + $"| {Format.Number(run.Final)} | {Format.Number(run.NoFault)} | {Format.Number(run.Recovery, 3)} "
                + $"| {run.Agent.Interventions} | {Outcome(run)} |");
        }
        md.AppendLine();
    }

    public static string Outcome(GeneratedOutcome run) => run switch
    {
        { Hurt: true, Repaired: true } => "repaired",
        { Hurt: true } => "**not repaired**",
        { Harmed: true } => "**harmed**",
        { WorsenedUnhurt: true } => "**made worse**",
        { Healthy: true } => "kept healthy",
        _ => "fault did not hurt",
    };

    private static string Drawn(GeneratedOutcome run) =>
        run.Scenario.Description[(run.Scenario.Description.IndexOf(':', StringComparison.Ordinal) + 2)..].TrimEnd('.');

    private static string Rate(double? rate, int count, int of) =>
        rate is { } r ? string.Create(CultureInfo.InvariantCulture, $"{r * 100:F1}% ({count} / {of})") : "—";

    private static string Pct(double value) => string.Create(CultureInfo.InvariantCulture, $"{value * 100:0}%");
}
