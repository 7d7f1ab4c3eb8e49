using System.Globalization;
using System.Text;

namespace AgentTrainer.Core.Summaries;

/// <summary>Renders a summary through a plain-text template (prompts/summary.md) whose
/// <c>{{placeholders}}</c> name sections. The result never exceeds <see cref="MaxCharacters"/>:
/// lists are capped first, and a final cut marks itself.</summary>
public sealed class SummaryRenderer(string template, int maxCharacters = SummaryRenderer.DefaultMaxCharacters)
{
    public const int DefaultMaxCharacters = 6000;
    private const int MaxLayers = 16;
    private const int MaxCheckpoints = 10;
    private const int MaxInterventions = 6;
    private const string CutMarker = "\n[summary cut to its size limit]";

    public int MaxCharacters => maxCharacters;

    public static readonly string[] Placeholders =
        ["step", "total_steps", "branch", "trigger", "lr", "base_lr", "train_loss", "val_loss", "lr_history", "grad_norm", "signals",
         "interventions", "layers", "checkpoints", "limits", "budget"];

    public string Render(TrainingSummary summary)
    {
        var values = new Dictionary<string, string>(StringComparer.Ordinal)
        {
            ["step"] = summary.Step.ToString(CultureInfo.InvariantCulture),
            ["total_steps"] = summary.TotalSteps.ToString(CultureInfo.InvariantCulture),
            ["branch"] = summary.Branch.ToString(CultureInfo.InvariantCulture),
            ["trigger"] = summary.Trigger,
            ["lr"] = Number(summary.LearningRate),
            ["base_lr"] = Number(summary.BaseLearningRate),
            ["train_loss"] = Series(summary.TrainLoss),
            ["val_loss"] = summary.ValLoss.Count > 0 ? Series(summary.ValLoss) : "(no evaluation yet)",
            ["lr_history"] = Series(summary.LearningRates),
            ["grad_norm"] = Series(summary.GradNorms),
            ["signals"] = Signals(summary.Signals),
            ["interventions"] = Interventions(summary.RecentInterventions) + Rejections(summary.Rejections),
            ["layers"] = Layers(summary),
            ["checkpoints"] = Checkpoints(summary.Checkpoints),
            ["limits"] = Limits(summary.Limits),
            ["budget"] = Budget(summary.Budget),
        };
        var text = new StringBuilder(template);
        foreach ((string name, string value) in values)
        {
            text.Replace("{{" + name + "}}", value);
        }
        string rendered = text.ToString();
        return rendered.Length <= maxCharacters ? rendered : rendered[..(maxCharacters - CutMarker.Length)] + CutMarker;
    }

    private static string Rejections(IReadOnlyList<Rejection> rejections) => string.Concat(rejections.TakeLast(MaxInterventions)
        .Select(r => $"\n- rejected by {r.Reviewer ?? "a person"}: {r.Describe()} (proposed at step {r.Step})"
            + (string.IsNullOrWhiteSpace(r.Comment) ? "" : $": \"{r.Comment}\"")));

    public static string Number(double value) => value.ToString("G4", CultureInfo.InvariantCulture);

    private static string Budget(BudgetSummary? budget) =>
        budget is null
            ? "(none)"
            : string.Join('\n', new[]
            {
                $"- trained {budget.TrainedSteps} steps of {budget.MaxTrainedSteps} (all branches: rolled-back steps count); {budget.StepsLeft} left",
                budget.Deadline is { } deadline
                    ? $"- done by {deadline.ToUniversalTime().ToString("u", CultureInfo.InvariantCulture)}; the steps left count it at the current pace"
                    : "- no deadline",
                "- a rollback must leave budget to get past where the run is now",
            });

    private static string Series(IReadOnlyList<SeriesPoint> points) =>
        points.Count == 0 ? "(none)" : string.Join(" ", points.Select(p => $"{p.Step}:{Number(p.Value)}"));

    private static string Signals(SummarySignals s) => string.Join('\n', new[]
    {
        $"- recent loss (last 10 steps): {Number(s.RecentLoss)}; best 25-step mean lately: {Number(s.BestRecentLoss)}",
        $"- trend per 100 steps: short (50 steps) {Percent(s.ShortTrend)}, long (200 steps) {Percent(s.LongTrend)}",
        $"- volatility around the trend: {Percent(s.Volatility)} (before the last {SummaryBuilder.PriorGap} steps: "
            + $"{Percent(s.PriorVolatility)}); spikes (>2x the trend) in the last 100 steps: {s.Spikes}",
        $"- non-finite losses in the last 100 steps: {s.NonFiniteSteps}"
            + (s.SkippedBatches > 0 ? $"; batches the loss guard skipped (not trained on): {s.SkippedBatches}" : ""),
        $"- gradient norm: recent {Number(s.RecentGradNorm)}, median {Number(s.MedianGradNorm)}",
        s.BestValLoss is { } best ? $"- best validation loss: {Number(best)} at step {s.BestValStep}" : "- best validation loss: none yet",
        s.StepsSinceIntervention is { } since ? $"- steps since the last intervention: {since}" : "- no intervention yet",
        s.UnexplainedLrJump is { } jump
            ? $"- the lr rose {Number(jump.Factor)}x at step {jump.Step} ({Number(jump.Before)} -> {Number(jump.After)}) with no "
                + $"command, schedule or branch behind it; the loss was {Number(jump.LossBefore)} just before"
            : "- no unexplained lr change",
        s.LossJump is { } step
            ? $"- the loss stepped up at step {step.Step}: {Number(step.LossBefore)} over the 10 steps before, "
                + $"{Number(step.LossAfter)} over the 10 from it"
            : "- no sudden step up of the loss lately",
    });

    public static string Percent(double value) => (value * 100).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) + "%";

    private static string Interventions(IReadOnlyList<InterventionOutcome> interventions) =>
        interventions.Count == 0
            ? "(none)"
            : string.Join('\n', interventions.TakeLast(MaxInterventions).Select(i =>
                $"- step {i.Step}: {i.Describe()} ({i.Source}); mean loss before {Number(i.LossBefore)}, after " +
                (i.LossAfter is { } after ? Number(after) : "(not measured yet)")));

    private static string Layers(TrainingSummary summary) =>
        summary.Layers.Count == 0
            ? "(no evaluation yet)"
            : string.Join('\n', summary.Layers.Take(MaxLayers).Select(l =>
                $"- {l.Name}: weight norm {Number(l.WeightNorm)}, grad norm {Number(l.GradNorm)}" +
                (l.DeadFraction is { } dead ? $", dead ReLU units {Percent(dead)}" : "") +
                (l.WeightChange is { } change ? $", weights moved {Number(change * 100)}% per 100 steps" : "") +
                (l.Straightness is { } straightness ? $", step straightness {Number(straightness)}" : "")))
              + (summary.Layers.Count > MaxLayers ? $"\n- ... {summary.Layers.Count - MaxLayers} more" : "");

    private static string Checkpoints(IReadOnlyList<CheckpointSummary> checkpoints) =>
        checkpoints.Count == 0
            ? "(none)"
            : string.Join('\n', checkpoints.TakeLast(MaxCheckpoints).Select(c =>
                $"- {c.Id}: step {c.Step}, branch {c.Branch}, val loss {CheckpointLoss(c)}"));

    /// <summary>The loss the gate judges a rollback by: measured at the checkpoint's step, or its branch's
    /// latest before it.</summary>
    private static string CheckpointLoss(CheckpointSummary c) => (c.ValLoss, c.LastValLoss) switch
    {
        ({ } measured, _) => Number(measured),
        (null, { } before) => $"{Number(before)} (the last evaluation before it)",
        _ => "n/a",
    };

    private static string Limits(PolicyLimits l) => string.Join('\n', new[]
    {
        $"- policy: {l.Policy}",
        $"- base lr must stay within [{Number(l.MinLearningRate)}, {Number(l.MaxLearningRate)}]",
        $"- cooldown remaining: {l.CooldownRemaining} steps; rollbacks left: {l.RollbacksLeft} (at most {l.MaxRollbackDepth} steps back)",
        $"- a rollback's checkpoint may be at most {Number(l.MaxRegression * 100)}% worse than the best validation loss "
            + $"({(l.BestValLoss is { } best ? Number(best) : "none yet")}) unless the run is in trouble; starts over (back to step 0) left: "
            + $"{l.StartOversLeft}",
        $"- resettable layers: {(l.ResettableLayers.Count > 0 ? string.Join(", ", l.ResettableLayers.Take(MaxLayers)) : "none")}",
        $"- needs human approval: {(l.NeedApproval.Count > 0 ? string.Join(", ", l.NeedApproval) : "nothing")}"
            + (l.ExplorationsLeft > 0 ? $"\n- explorations of the lr left: {l.ExplorationsLeft}" : ""),
    });
}
