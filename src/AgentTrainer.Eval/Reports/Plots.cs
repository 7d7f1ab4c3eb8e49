using AgentTrainer.Core.Policies;
using AgentTrainer.Eval.Figures;
using ScottPlot;

namespace AgentTrainer.Eval.Reports;

/// <summary>The report's pictures (ScottPlot, PNG): each scenario's validation curves with where each
/// contestant intervened, and the headline figure for every scenario in one bar chart.</summary>
public static class Plots
{
    public const string Folder = "plots";
    public const string HeadlineFile = "headline.png";
    private static readonly ScottPlot.Palettes.Category10 Palette = new();

    private static readonly Dictionary<string, MarkerShape> Shapes = new(StringComparer.Ordinal)
    {
        [ToolNames.HalveLearningRate] = MarkerShape.FilledTriangleDown,
        [ToolNames.DoubleLearningRate] = MarkerShape.FilledTriangleUp,
        [ToolNames.RollbackCheckpoint] = MarkerShape.FilledSquare,
        [ToolNames.ResetLayer] = MarkerShape.FilledDiamond,
        [ToolNames.ExploreLearningRate] = MarkerShape.OpenCircle,
    };

    public static string CurveFile(string scenario) => scenario + ".png";

    /// <summary>Validation loss against trained steps, one line per contestant (the first seed); a marker
    /// where each intervention was applied (▼ halve, ▲ double, ■ roll back, ◆ reset a layer); the fault dashed.</summary>
    public static void WriteCurves(string path, string title, IReadOnlyList<(string Contestant, RunCurve Curve)> curves)
    {
        var plot = new Plot();
        for (int i = 0; i < curves.Count; i++)
        {
            (string contestant, RunCurve curve) = curves[i];
            Color color = Palette.GetColor(i);
            double[] xs = [.. curve.Points.Select(p => (double)p.TrainedStep)];
            double[] ys = [.. curve.Points.Select(p => Math.Min(p.ValLoss, 1e6))];
            if (xs.Length == 0)
            {
                continue;
            }
            var line = plot.Add.ScatterLine(xs, ys, color);
            line.LegendText = contestant;
            line.LineWidth = 2;
            foreach ((long step, string kind) in curve.Interventions)
            {
                var marker = plot.Add.Marker(step, Interpolate(xs, ys, step), Shapes.GetValueOrDefault(kind, MarkerShape.FilledCircle), 11, color);
                marker.LegendText = "";
            }
        }
        if (curves.Select(c => c.Curve.FaultTrainedStep).FirstOrDefault(f => f is not null) is { } fault)
        {
            var line = plot.Add.VerticalLine(fault, 1, Colors.Gray, LinePattern.Dashed);
            line.Text = "fault";
        }
        plot.Title(title);
        plot.XLabel("trained steps (rolled-back steps included)");
        plot.YLabel("validation loss");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 960, 540);
    }

    /// <summary>Each contestant's mean final validation loss relative to the baseline's, per scenario,
    /// with the spread over seeds as error bars (1.0: as good as the baseline; lower is better).</summary>
    public static void WriteHeadline(string path, string baseline, IReadOnlyList<string> contestants, IReadOnlyList<ScenarioResult> scenarios)
    {
        var plot = new Plot();
        var bars = new List<Bar>();
        var ticks = new ScottPlot.TickGenerators.NumericManual();
        int group = contestants.Count + 1;
        for (int s = 0; s < scenarios.Count; s++)
        {
            ContestantResult? reference = scenarios[s].Contestants.FirstOrDefault(c => c.Contestant == baseline);
            double? baseMean = reference?.FinalValLoss?.Mean;
            for (int c = 0; c < contestants.Count; c++)
            {
                ContestantResult? result = scenarios[s].Contestants.FirstOrDefault(r => r.Contestant == contestants[c]);
                if (result?.FinalValLoss is not { } final || baseMean is not { } b || b <= 0)
                {
                    continue;
                }
                bars.Add(new Bar { Position = (s * group) + c, Value = final.Mean / b, Error = final.StandardDeviation / b, FillColor = Palette.GetColor(c) });
            }
            ticks.AddMajor((s * group) + ((contestants.Count - 1) / 2.0), scenarios[s].Scenario.Name);
        }
        plot.Add.Bars(bars);
        plot.Add.HorizontalLine(1, 1, Colors.Gray, LinePattern.Dashed);
        for (int c = 0; c < contestants.Count; c++)
        {
            plot.Legend.ManualItems.Add(new LegendItem { LabelText = contestants[c], FillColor = Palette.GetColor(c) });
        }
        plot.Axes.Bottom.TickGenerator = ticks;
        plot.Axes.Bottom.TickLabelStyle.Rotation = -30;
        plot.Axes.Bottom.TickLabelStyle.Alignment = Alignment.MiddleRight;
        plot.Axes.Bottom.MinimumSize = 120; // room for the slanted scenario names
        plot.Axes.Margins(bottom: 0);
        plot.Title($"final validation loss relative to {baseline} (mean over seeds; lower is better)");
        plot.YLabel($"final val loss / {baseline}'s");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 1100, 600);
    }

    private static double Interpolate(double[] xs, double[] ys, double x)
    {
        int after = Array.FindIndex(xs, value => value >= x);
        if (after <= 0)
        {
            return after == 0 ? ys[0] : ys[^1];
        }
        double t = (x - xs[after - 1]) / Math.Max(1e-9, xs[after] - xs[after - 1]);
        return ys[after - 1] + (t * (ys[after] - ys[after - 1]));
    }
}
