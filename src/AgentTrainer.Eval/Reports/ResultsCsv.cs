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

    public const string FamiliesFileName = "families.csv";

    private static readonly (string Name, Func<FamilyRow, object?> Value)[] FamilyColumns =
    [
        ("family", r => r.Family), ("agent", r => r.Contestant), ("runs", r => r.Runs), ("hurt", r => r.Hurt),
        ("repaired", r => r.Repaired), ("repair_rate", r => r.RepairRate), ("mean_recovery", r => r.MeanRecovery),
        ("worst_recovery", r => r.WorstRecovery), ("healthy", r => r.Healthy), ("harmed", r => r.Harmed),
        ("harm_rate", r => r.HarmRate), ("unhurt", r => r.Unhurt), ("unhurt_made_worse", r => r.WorsenedUnhurt),
        ("mean_regret", r => r.MeanRegret), ("interventions_per_run", r => r.InterventionsPerRun),
        ("trained_steps_per_run", r => r.TrainedStepsPerRun),
    ];

    public static string Write(IEnumerable<RunFigures> runs) => Table(Columns, runs);

    public static string Write(IEnumerable<FamilyRow> families) => Table(FamilyColumns, families);

    private static string Table<T>((string Name, Func<T, object?> Value)[] columns, IEnumerable<T> rows)
    {
        var csv = new StringBuilder();
        csv.AppendLine(string.Join(',', columns.Select(c => c.Name)));
        foreach (T row in rows)
        {
            csv.AppendLine(string.Join(',', columns.Select(c => Field(c.Value(row)))));
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
