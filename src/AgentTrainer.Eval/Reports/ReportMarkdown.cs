using System.Globalization;
using System.Text;
using AgentTrainer.Core.Text;
using AgentTrainer.Eval.Figures;
using AgentTrainer.Eval.Running;
using AgentTrainer.Eval.Suites;

namespace AgentTrainer.Eval.Reports;

/// <summary>What report.md says about the suite that produced it.</summary>
public sealed record ReportContext(Suite Suite, string CommandLine, int Runs, int Reused, double StepScale, int ThreadsPerRun,
    string Machine, DateTimeOffset Finished, Generation.DecisionMode Decisions);

/// <summary>report.md: verdicts first (one line per scenario), then per scenario its outcome and its
/// conduct side by side, mean ± spread over seeds, with its curves.</summary>
public static class ReportMarkdown
{
    public const string FileName = "report.md";

    public static string Write(ReportContext context, IReadOnlyList<ScenarioResult> scenarios, IReadOnlyList<string> failures,
        (IReadOnlyList<FamilyRow> Rows, IReadOnlyList<GeneratedOutcome> Outcomes)? families = null)
    {
        Suite suite = context.Suite;
        string baseline = suite.Baseline;
        var md = new StringBuilder();
        md.AppendLine("# AgentTrainer eval report").AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"{suite.Scenarios.Count} scenarios × {suite.Contestants.Count} contestants ({string.Join(", ", suite.Contestants.Select(c => c.Name))}), "
            + $"{context.Runs} runs ({context.Reused} reused from an earlier invocation), finished {context.Finished:yyyy-MM-dd HH:mm} UTC on {context.Machine}, "
            + $"{Conditions(context)}{(context.StepScale == 1 ? "" : $", every step count scaled by {context.StepScale.ToString(CultureInfo.InvariantCulture)} (a reduced suite)")}.");
        md.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"Command: `{context.CommandLine}`").AppendLine();
        md.AppendLine(CultureInfo.InvariantCulture, $"Headline figure: final validation loss (lower is better), compared with **{baseline}** seed by seed. "
            + $"Spreads are sample standard deviations over seeds. Every run is in `runs/SCENARIO/CONTESTANT/seed-N/` with the settings it ran with "
            + $"(`settings.json`: `agent-trainer run --config` on it re-runs it) and its recorded decisions (`decisions.jsonl`).");
        if (failures.Count > 0)
        {
            md.AppendLine().AppendLine("## Failed runs").AppendLine();
            foreach (string failure in failures)
            {
                md.AppendLine(CultureInfo.InvariantCulture, $"- {failure}");
            }
        }
        if (families is { } generated)
        {
            md.AppendLine();
            FamilyMarkdown.Write(md, baseline, generated.Rows, generated.Outcomes);
            return md.ToString();
        }
        md.AppendLine().AppendLine("## Verdicts").AppendLine();
        foreach (ScenarioResult scenario in scenarios)
        {
            md.AppendLine(CultureInfo.InvariantCulture, $"- {scenario.Verdict}");
        }
        md.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"![final validation loss relative to {baseline}]({Plots.Folder}/{Plots.HeadlineFile})").AppendLine();

        foreach (ScenarioResult scenario in scenarios)
        {
            Scenario s = scenario.Scenario;
            md.AppendLine(CultureInfo.InvariantCulture, $"## {s.Name}").AppendLine();
            if (s.Description.Length > 0)
            {
                md.AppendLine(MarkdownText.Line(s.Description)).AppendLine();
            }
            string faults = s.Faults.Count == 0 ? "no fault"
                : string.Join(", ", s.Faults.Select(f => $"{f.Kind} at step {RunPlanner.ScaleFaultStep(f.Step, s.Steps, context.StepScale)}"));
            md.AppendLine(CultureInfo.InvariantCulture, $"{s.Task}{(s.Model.Length > 0 ? " / " + s.Model : "")}, {RunPlanner.Scale(s.Steps, context.StepScale)} steps, lr {s.LearningRate.ToString("G4", CultureInfo.InvariantCulture)} {s.Schedule}, {faults}; "
                + $"seeds {string.Join(", ", scenario.Contestants.SelectMany(c => c.Runs).Select(r => r.Seed).Distinct().Order())} (`{s.Source}`); a good agent should {(s.Expect == ScenarioExpectation.Improve ? $"beat {baseline}" : $"end within 2% of {baseline} with at most one intervention per 1000 steps")}.").AppendLine();
            md.AppendLine(CultureInfo.InvariantCulture, $"**Verdict.** {scenario.Verdict}").AppendLine();
            bool oracle = scenario.Contestants.Any(c => c.OracleRatio is not null);
            bool fault = s.FaultStep is not null;
            md.AppendLine("| contestant | final val loss | vs " + baseline + " | seeds better | no harm | best val loss | thrown away | val-loss AUC |"
                + (fault ? " recovery steps (never) |" : "") + (oracle ? " / oracle |" : ""));
            md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- |" + (fault ? " --- |" : "") + (oracle ? " --- |" : ""));
            foreach (ContestantResult c in scenario.Contestants)
            {
                string seeds = c.Contestant == baseline ? "—" : $"{c.BeatsBaseline}/{c.Runs.Count}";
                string noHarm = c.Contestant == baseline || c.IsOracle ? "—" : $"{c.DoesNoHarm}/{c.Runs.Count}";
                string versus = c.VersusBaseline is { } v && c.Contestant != baseline ? Format.Percent(v) : "—";
                md.Append(CultureInfo.InvariantCulture,
                    $"| {MarkdownText.Cell(c.Contestant)} | {Format.Spread(c.FinalValLoss)} | {versus} | ")
                  .Append(CultureInfo.InvariantCulture, $"{seeds} | {noHarm} | {Format.Spread(c.BestValLoss)} | {Format.Spread(c.ThrownAway)} | {Format.Spread(c.ValLossAuc)} |");
                if (fault)
                {
                    md.Append(CultureInfo.InvariantCulture, $" {Format.Spread(c.RecoverySteps, 0)} ({c.NeverRecovered}) |");
                }
                if (oracle)
                {
                    md.Append(CultureInfo.InvariantCulture, $" {Format.Spread(c.OracleRatio, 3)} |");
                }
                md.AppendLine();
            }
            md.AppendLine();
            md.AppendLine("| contestant | trained steps | halved / doubled / rollbacks (to worse, starts over) / resets / explored (moved the lr) | interventions per 1000 steps | refused / sent to review | decisions / model calls / fallbacks | tokens in / out | latency ms (mean / max) | wall s |");
            md.AppendLine("| --- | --- | --- | --- | --- | --- | --- | --- | --- |");
            foreach (ContestantResult c in scenario.Contestants.Where(c => !c.IsOracle))
            {
                md.AppendLine(CultureInfo.InvariantCulture,
                    $"| {MarkdownText.Cell(c.Contestant)} | {Format.Spread(c.TrainedSteps, 0)} "
                    + $"| {M(c, r => r.LrHalved)} / {M(c, r => r.LrDoubled)} / {M(c, r => r.Rollbacks)} "
                    + $"({M(c, r => r.RollbacksToWorse)}, {M(c, r => r.StartOvers)}) / {M(c, r => r.LayerResets)} "
                    + $"/ {M(c, r => r.Explorations)} ({M(c, r => r.ExplorationsMoved)}) "
                    + $"| {Format.Spread(c.InterventionsPer1000Steps, 2)} | {M(c, r => r.Refused)} / {M(c, r => r.SentToReview)} "
                    + $"| {M(c, r => r.Decisions)} / {M(c, r => r.ModelCalls)} / {M(c, r => r.Fallbacks)} | {M(c, r => r.InputTokens, 0)} / {M(c, r => r.OutputTokens, 0)} "
                    + $"| {Latency(c)} | {Format.Spread(c.WallSeconds, 1)} |");
            }
            md.AppendLine().AppendLine(CultureInfo.InvariantCulture, $"![{s.Name}]({Plots.Folder}/{Plots.CurveFile(s.Name)})").AppendLine();
        }
        md.AppendLine("Counts in the conduct table are means over seeds. Trained steps include those a rollback discarded. "
            + "No harm: final and best validation loss each within 2% of the baseline's, or better, in that seed. Thrown away: the final "
            + "model's validation loss minus the best checkpoint's, both on the whole held-out set (what the run reached and did not hand back; "
            + "0 when it handed back the best). Rollbacks to worse: to a checkpoint more than 5% worse than the run's "
            + "best at that moment (starts over, to step 0, are counted apart). "
            + "Recovery: trained steps from the fault until the validation loss is back within 10% of its last value before the fault "
            + "(mean over the seeds that recovered; in brackets, seeds that never did). AUC: the area under the validation-loss curve over trained steps, "
            + "divided by them. `/ oracle`: final loss over the best final loss of the constant-lr grid (oracle-lr-*), per seed.");
        return md.ToString();
    }

    /// <summary>The conditions every agent figure was measured under.</summary>
    private static string Conditions(ReportContext context) =>
        (context.Decisions == Generation.DecisionMode.Async
            ? "decisions asynchronous (as a plain `run`: training goes on while the agent decides)"
            : "each decision made with the run paused (PauseWhileDeciding: reproducible bit for bit)")
        + (context.Suite.IsGenerated ? ", decision modes and CPU threads per run as each family draws them (one thread "
                + "unless the family lists others; decisions as above unless it lists modes)"
            : context.ThreadsPerRun == 0 ? ", each run on the run's own threads (all cores)"
            : $", {context.ThreadsPerRun} CPU thread(s) per run");

    private static string M(ContestantResult c, Func<RunFigures, double> figure, int digits = 1) => Format.Number(c.Mean(figure), digits);

    private static string Latency(ContestantResult c)
    {
        double[] means = [.. c.Runs.Select(r => r.MeanLatencyMs).OfType<double>()];
        double[] maxima = [.. c.Runs.Select(r => r.MaxLatencyMs).OfType<double>()];
        return means.Length == 0 ? "—" : $"{Format.Number(means.Average(), 1)} / {Format.Number(maxima.Max(), 1)}";
    }
}
