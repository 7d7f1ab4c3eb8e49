using System.Globalization;
using System.Text;
using AgentTrainer.Core.Text;
using ScottPlot;

namespace AgentTrainer.Service.Reports;

/// <summary>The morning report as Markdown (charts linked from the API, or from charts/NAME.png beside the file) and
/// each run's chart as a PNG.</summary>
public static class ReportWriter
{
    public const string ChartsFolder = "charts";

    public static string Markdown(ReportModel report, bool chartsRelative)
    {
        var text = new StringBuilder();
        CultureInfo invariant = CultureInfo.InvariantCulture;
        text.AppendLine(invariant,
            $"# The night of {report.From.ToLocalTime():yyyy-MM-dd HH:mm} to {report.To.ToLocalTime():yyyy-MM-dd HH:mm}");
        text.AppendLine();
        text.AppendLine(invariant, $"{report.Runs.Count} runs; {report.Runs.Sum(r => r.Interventions.Count)} interventions; "
            + $"{report.Waiting} proposals wait for review.");
        text.AppendLine();
        text.AppendLine("| run | kind | outcome | steps | val loss start → final | best (step) | interventions | waiting |");
        text.AppendLine("| --- | --- | --- | ---: | --- | --- | ---: | ---: |");
        foreach (RunReport run in report.Runs)
        {
            text.AppendLine(invariant, $"| {MarkdownText.Cell(run.Name)} | {run.Kind} | {run.State} | {run.Steps} | "
                + $"{Loss(run.StartValLoss)} → "
                + $"{Loss(run.FinalValLoss)} | {Loss(run.BestValLoss)} ({run.BestStep?.ToString(invariant) ?? "–"}) | "
                + $"{run.Interventions.Count} | {run.Waiting.Count} |");
        }
        foreach (RunReport run in report.Runs)
        {
            text.AppendLine();
            text.AppendLine(invariant, $"## {MarkdownText.Line(run.Name)} — {run.State}");
            text.AppendLine();
            if (run.Message is not null)
            {
                text.AppendLine(MarkdownText.Line(run.Message));
                text.AppendLine();
            }
            if (run.HandedBack is { } handedBack)
            {
                text.AppendLine(invariant, $"Hands back {MarkdownText.Line(handedBack.Description)}.");
                text.AppendLine();
            }
            if (run.Evaluations.Count > 0)
            {
                string chart = chartsRelative
                    ? $"{ChartsFolder}/{Uri.EscapeDataString(run.Name)}.png"
                    : $"/api/service/runs/{Uri.EscapeDataString(run.Name)}/chart.png";
                text.AppendLine(invariant, $"![{MarkdownText.Line(run.Name)}]({chart})");
                text.AppendLine();
            }
            if (run.Interventions.Count == 0)
            {
                text.AppendLine("No interventions.");
            }
            foreach (InterventionReport intervention in run.Interventions)
            {
                string effect = intervention.LossBefore is { } before && intervention.LossAfter is { } after
                    ? string.Create(invariant, $"; train loss {before:0.####} → {after:0.####}")
                    : "";
                string who = intervention.ApprovedBy is null
                    ? $"by the {intervention.Source}"
                    : $"approved by {MarkdownText.Line(intervention.ApprovedBy)}";
                string rule = intervention.Rule is null ? "" : $" (rule {MarkdownText.Line(intervention.Rule)})";
                text.AppendLine(invariant, $"- step {intervention.Step}: **{intervention.Command}** {who}{rule}{effect} — "
                    + $"{MarkdownText.Line(intervention.Reason)}");
            }
            foreach (Inbox.InboxItem item in run.Waiting)
            {
                text.AppendLine(invariant,
                    $"- waiting: **{item.Action}** at step {item.Step} (until {item.ExpiresAt:u}) — "
                    + $"{MarkdownText.Line(item.Reason)}");
            }
            foreach (Core.Records.ReviewEvent expired in run.ExpiredUnanswered)
            {
                text.AppendLine(invariant,
                    $"- expired unanswered: proposal {MarkdownText.Line(expired.ProposalId)} at step {expired.Step} — "
                    + $"{MarkdownText.Line(expired.Outcome)}");
            }
        }
        return text.ToString();
    }

    /// <summary>Validation loss against step, a dashed line where each intervention was applied.</summary>
    public static byte[] Chart(RunReport run)
    {
        var plot = new Plot();
        double[] xs = [.. run.Evaluations.Select(e => (double)e.Step)];
        double[] ys = [.. run.Evaluations.Select(e => double.IsFinite(e.ValLoss) ? Math.Min(e.ValLoss, 1e6) : double.NaN)];
        var line = plot.Add.ScatterLine(xs, ys);
        line.LineWidth = 2;
        foreach (InterventionReport intervention in run.Interventions)
        {
            var marker = plot.Add.VerticalLine(intervention.Step, 1, Colors.Gray, LinePattern.Dashed);
            marker.Text = intervention.Command;
        }
        plot.Title($"{run.Name} ({run.State})");
        plot.XLabel("step");
        plot.YLabel("validation loss");
        return plot.GetImageBytes(640, 320, ImageFormat.Png);
    }

    private static string Loss(double? value) => value?.ToString("0.####", CultureInfo.InvariantCulture) ?? "–";
}
