using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Summaries;

namespace AgentTrainer.Core.Tests;

public class SummaryTests
{
    private static readonly PolicyLimits Limits = new()
    {
        Policy = "unattended", MinLearningRate = 1e-5, MaxLearningRate = 1e-2, CooldownRemaining = 0, RollbacksLeft = 3, MaxRollbackDepth = 600,
        ResettableLayers = ["hidden1"], NeedApproval = [],
    };

    private static List<StepMetrics> Steps(int count, Func<int, double> loss) =>
        [.. Enumerable.Range(0, count).Select(i => new StepMetrics(i, 0, 0, loss(i), 1e-3, 0.5, 90, 700, false))];

    private static TrainingSummary Build(List<StepMetrics> steps, IReadOnlyList<EvaluationMetrics>? evaluations = null, IReadOnlyList<CheckpointSummary>? checkpoints = null) =>
        SummaryBuilder.Build(steps, evaluations ?? [], new SummaryContext(steps.Count, 1000, 0, 1e-3, 1e-3, "scheduled", null, [], checkpoints ?? [], Limits));

    [Fact]
    public void Downsampling_IsDenseNearNow_AndCoversTheWholeHistory()
    {
        List<StepMetrics> steps = Steps(1000, i => i);
        IReadOnlyList<SeriesPoint> points = SummaryBuilder.Downsample(steps, s => s.Loss);
        Assert.Equal(18, points.Count); // buckets of 1, 1, 2, 2, 4, 4, ... cover 1000 steps in 18
        Assert.Equal(SummaryBuilder.MaxSeriesPoints, SummaryBuilder.Downsample(Steps(100_000, i => i), s => s.Loss).Count);
        Assert.Equal([998L, 999], points.TakeLast(2).Select(p => p.Step));
        Assert.Equal(999, points[^1].Value); // the last bucket is one step
        Assert.True(points[1].Step - points[0].Step > 100, "the oldest buckets are coarse");
        Assert.Equal(Enumerable.Range(0, 1000).Take((int)points[0].Step + 1).Average(), points[0].Value, 9); // bucket means
    }

    [Fact]
    public void Signals_SeeTrendsVolatilitySpikesAndNonFiniteSteps()
    {
        List<StepMetrics> rising = Steps(300, i => 2 + (i * 0.002));
        TrainingSummary up = Build(rising);
        Assert.True(up.Signals.ShortTrend > 0.05 && up.Signals.LongTrend > 0.05);
        Assert.True(up.Signals.Volatility < 1e-9);

        List<StepMetrics> noisy = Steps(300, i => 2 + (i % 2 == 0 ? 0.2 : -0.2));
        noisy[220] = noisy[220] with { Loss = 9 }; // a spike outside the 50-step volatility window
        noisy[295] = noisy[295] with { NonFinite = true, Loss = double.NaN };
        TrainingSummary bumpy = Build(noisy);
        Assert.InRange(bumpy.Signals.Volatility, 0.08, 0.2);
        Assert.Equal(1, bumpy.Signals.Spikes);
        Assert.Equal(1, bumpy.Signals.NonFiniteSteps);
        Assert.True(double.IsFinite(bumpy.Signals.RecentLoss));
    }

    [Fact]
    public void Losses_too_large_to_compute_with_count_as_non_finite_and_leave_every_signal_a_number()
    {
        // A trainer reporting -0.0 and 1e308 in turn: both finite, but 1e308 squared overflows a trend to NaN.
        List<StepMetrics> steps = Steps(200, i => i < 100 ? 2.0 - (i * 0.001) : (i % 2 == 0 ? -0.0 : 1e308));
        TrainingSummary summary = Build(steps);
        SummarySignals s = summary.Signals;
        Assert.Equal(50, s.NonFiniteSteps);
        double[] signals = [s.RecentLoss, s.BestRecentLoss, s.ShortTrend, s.LongTrend, s.Volatility, s.PriorVolatility];
        Assert.All(signals, value => Assert.True(double.IsFinite(value), $"{value} is not a number to act on"));
        string template = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "prompts", "summary.md"));
        Assert.DoesNotContain("NaN", new SummaryRenderer(template).Render(summary), StringComparison.Ordinal);
    }

    [Fact]
    public void PriorVolatility_IsTheNoiseBeforeTheLatestSteps_SoAFaultDoesNotRaiseItsOwnBar()
    {
        List<StepMetrics> calm = Steps(300, i => 2 + (i % 2 == 0 ? 0.1 : -0.1));
        List<StepMetrics> broken = [.. calm.Select(s => s.Step > 270 ? s with { Loss = s.Loss * 3 } : s)];
        SummarySignals before = Build(calm).Signals, after = Build(broken).Signals;
        Assert.True(after.Volatility > 4 * before.Volatility, $"{after.Volatility} vs {before.Volatility}");
        Assert.Equal(before.PriorVolatility, after.PriorVolatility, 12);
        Assert.Equal(Build(calm[..60]).Signals.Volatility, Build(calm[..60]).Signals.PriorVolatility); // young: no earlier noise
    }

    [Fact]
    public void RenderedText_FillsTheTemplate()
    {
        string template = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "prompts", "summary.md"));
        TrainingSummary summary = Build(Steps(200, i => 3 - (i * 0.005)), [new EvaluationMetrics(100, 0, 2.6, null, 3.7, [new LayerHealth("block0", 12.5, 0.3, null, 0.0293, 0.971), new LayerHealth("block1", 8, 0.2, 0.25)])],
            [new CheckpointSummary("ckpt-000100-b0", 100, 0, 2.6), new CheckpointSummary("ckpt-000140-b0", 140, 0, null, 2.6)]);
        string text = new SummaryRenderer(template).Render(summary);
        Assert.DoesNotContain("{{", text, StringComparison.Ordinal);
        Assert.Contains("# Training run at step 200 of 1000 (branch 0)", text, StringComparison.Ordinal);
        Assert.Contains("- ckpt-000100-b0: step 100, branch 0, val loss 2.6\n", text, StringComparison.Ordinal);
        Assert.Contains("- ckpt-000140-b0: step 140, branch 0, val loss 2.6 (the last evaluation before it)", text, StringComparison.Ordinal);
        Assert.Contains("- block0: weight norm 12.5, grad norm 0.3, weights moved 2.93% per 100 steps, step straightness 0.971\n", text, StringComparison.Ordinal);
        Assert.Contains("- block1: weight norm 8, grad norm 0.2, dead ReLU units +25.0%\n", text, StringComparison.Ordinal); // no movement measured yet
        Assert.Contains("base lr must stay within [1E-05, 0.01]", text, StringComparison.Ordinal);
    }

    [Fact]
    public void The_budget_and_the_regression_limit_are_shown_to_the_agent()
    {
        string template = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "prompts", "summary.md"));
        var deadline = new DateTimeOffset(2026, 11, 27, 7, 0, 0, TimeSpan.Zero);
        var context = new SummaryContext(200, 1000, 0, 1e-3, 1e-3, "scheduled", null, [], [],
            Limits with { BestValLoss = 2.5, MaxRegression = 0.05, StartOversLeft = 1 }, new BudgetSummary(1450, 2000, 550, deadline));
        string text = new SummaryRenderer(template).Render(SummaryBuilder.Build(Steps(200, i => 3 - (i * 0.005)), [], context));

        Assert.Contains("## Budget\n- trained 1450 steps of 2000 (all branches: rolled-back steps count); 550 left\n"
            + "- done by 2026-11-27 07:00:00Z; the steps left count it at the current pace\n", text, StringComparison.Ordinal);
        Assert.Contains("at most 5% worse than the best validation loss (2.5) unless the run is in trouble; starts over (back to step 0) left: 1",
            text, StringComparison.Ordinal);
    }

    [Fact]
    public void RenderedText_NeverExceedsItsBound_HoweverLargeTheRun()
    {
        string template = File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "prompts", "summary.md"));
        var layers = Enumerable.Range(0, 500).Select(i => new LayerHealth($"block{i}.attention.with.a.very.long.name", i, i, 0.5)).ToList();
        var checkpoints = Enumerable.Range(0, 500).Select(i => new CheckpointSummary($"ckpt-{i:D6}-b{i}", i, i, i)).ToList();
        TrainingSummary summary = Build(Steps(4000, i => 1.0 / (i + 1)), [new EvaluationMetrics(4000, 0, 1, null, 1, layers)], checkpoints);
        var renderer = new SummaryRenderer(template + string.Concat(Enumerable.Repeat("{{layers}}\n", 20)), maxCharacters: 6000);
        string text = renderer.Render(summary);
        Assert.True(text.Length <= 6000, $"{text.Length} characters");
        Assert.EndsWith("[summary cut to its size limit]", text, StringComparison.Ordinal);
        string normal = new SummaryRenderer(template).Render(summary);
        Assert.True(normal.Length <= SummaryRenderer.DefaultMaxCharacters);
        Assert.Contains("- ... 484 more", normal, StringComparison.Ordinal); // lists are capped before any cut
    }
}

public class LearningRateJumpTests
{
    private static StepMetrics Step(long step, double lr, double loss = 1.0, int branch = 0) =>
        new(step, 0, branch, loss, lr, 0.5, 1, 1, false);

    [Fact]
    public void A_rise_no_command_explains_is_found_with_the_loss_level_just_before_it()
    {
        List<StepMetrics> steps = [.. Enumerable.Range(0, 100).Select(i => Step(i, i < 60 ? 1e-3 : 5e-2, i < 60 ? 2.0 : 3.0))];

        LearningRateJump jump = LearningRateJumps.Latest(steps, [])!;

        Assert.Equal((60L, 1e-3, 5e-2), (jump.Step, jump.Before, jump.After));
        Assert.Equal(2.0, jump.LossBefore, 9);
        Assert.Null(LearningRateJumps.Latest(steps, [60L])); // a command took effect there: explained
    }

    [Fact]
    public void Warmup_decay_and_a_new_branch_are_not_jumps()
    {
        var schedule = new Schedules.LearningRateSchedule(Options.ScheduleNames.Cosine, 200, 10);
        List<StepMetrics> scheduled = [.. Enumerable.Range(0, 200).Select(i => Step(i, 1e-3 * schedule.Multiplier(i)))];
        Assert.Null(LearningRateJumps.Latest(scheduled, []));

        List<StepMetrics> branched = [Step(0, 1e-3), Step(1, 1e-3), Step(2, 1e-2, branch: 1)];
        Assert.Null(LearningRateJumps.Latest(branched, []));
    }
}
