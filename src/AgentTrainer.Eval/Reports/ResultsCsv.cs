using System.Globalization;
using System.Text;
using AgentTrainer.Eval.Figures;

namespace AgentTrainer.Eval.Reports;

/// <summary>results.csv: one row per run, every figure, for spreadsheets and notebooks.</summary>
public static class ResultsCsv
{
    public const string FileName = "results.csv";

    private static readonly (string Name, Func<RunFigures, object?> Value)[] Columns =
    [
        ("scenario", r => r.Scenario), ("contestant", r => r.Contestant), ("seed", r => r.Seed), ("status", r => r.Status),
        ("final_val_loss", r => r.FinalValLoss), ("best_val_loss", r => r.BestValLoss),
        ("best_checkpoint_val_loss", r => r.BestCheckpointValLoss), ("thrown_away", r => r.ThrownAway),
        ("val_loss_auc", r => r.ValLossAuc),
        ("final_accuracy", r => r.FinalAccuracy), ("final_bits_per_char", r => r.FinalBitsPerChar),
        ("pre_fault_val_loss", r => r.PreFaultValLoss), ("recovered", r => r.HasFault ? (r.RecoverySteps is null ? "never" : "yes") : "n/a"),
        ("recovery_steps", r => r.RecoverySteps), ("trained_steps", r => r.TrainedSteps), ("interventions", r => r.Interventions),
        ("interventions_per_1000_steps", r => r.InterventionsPer1000Steps), ("lr_halved", r => r.LrHalved), ("lr_doubled", r => r.LrDoubled),
        ("rollbacks", r => r.Rollbacks), ("rollbacks_to_worse", r => r.RollbacksToWorse), ("start_overs", r => r.StartOvers),
        ("layer_resets", r => r.LayerResets), ("explorations", r => r.Explorations),
        ("explorations_moved", r => r.ExplorationsMoved), ("data_skips", r => r.DataSkips), ("refused", r => r.Refused), ("sent_to_review", r => r.SentToReview),
        ("decisions", r => r.Decisions), ("model_calls", r => r.ModelCalls), ("input_tokens", r => r.InputTokens), ("output_tokens", r => r.OutputTokens),
        ("mean_latency_ms", r => r.MeanLatencyMs), ("max_latency_ms", r => r.MaxLatencyMs), ("fallbacks", r => r.Fallbacks),
        ("wall_seconds", r => r.WallSeconds), ("folder", r => r.Folder),
    ];

    public static string Write(IEnumerable<RunFigures> runs)
    {
        var csv = new StringBuilder();
        csv.AppendLine(string.Join(',', Columns.Select(c => c.Name)));
        foreach (RunFigures run in runs)
        {
            csv.AppendLine(string.Join(',', Columns.Select(c => Field(c.Value(run)))));
        }
        return csv.ToString();
    }

    /// <summary>RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled.</summary>
    private static string Field(object? value)
    {
        string text = value switch
        {
            null => "",
            double number => number.ToString("R", CultureInfo.InvariantCulture),
            IFormattable formattable => formattable.ToString(null, CultureInfo.InvariantCulture),
            _ => value.ToString() ?? "",
        };
        return text.AsSpan().IndexOfAny(",\"\r\n") >= 0 ? "\"" + text.Replace("\"", "\"\"", StringComparison.Ordinal) + "\"" : text;
    }
}
