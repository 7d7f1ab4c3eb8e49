using AgentTrainer.Core.Options;

namespace AgentTrainer.Core.Tests;

public class TrainingOptionsValidatorTests
{
    private static IReadOnlyList<string> Failures(TrainingOptions options) =>
        new TrainingOptionsValidator().Validate(null, options).Failures?.ToList() ?? [];

    [Fact]
    public void Defaults_AreValid()
    {
        Assert.Empty(Failures(new TrainingOptions()));
    }

    [Fact]
    public void UnknownTask_NamesTheOptionTheKeyAndTheAllowedValues()
    {
        string failure = Assert.Single(Failures(new TrainingOptions { Task = "imagenet" }));
        Assert.Equal("--task (Training:Task): 'imagenet' is not one of fashion-mnist, char-lm, synthetic.", failure);
    }

    [Fact]
    public void ModelMustFitTheTask()
    {
        string failure = Assert.Single(Failures(new TrainingOptions { Task = TaskNames.CharLm, Model = "cnn" }));
        Assert.Contains("--model", failure, StringComparison.Ordinal);
        Assert.Contains("gpt", failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(-1e-3)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    [InlineData(1e39)] // beyond float32: libtorch's conversion of 1 - lr * weight_decay would overflow and kill the step
    [InlineData(1e300)]
    public void LearningRate_MustBePositiveAndWithinTheLimit(double learningRate)
    {
        string failure = Assert.Single(Failures(new TrainingOptions { LearningRate = learningRate }));
        Assert.StartsWith("--lr (Training:LearningRate) must be a number above 0 and at most 1000; got ", failure, StringComparison.Ordinal);
    }

    /// <summary>Each value here once crashed the run, hung it or was silently accepted.</summary>
    [Theory]
    [InlineData("--grad-clip", "--grad-clip (Training:GradClip) must be a number at least 0 and at most 1E+06 (0 turns clipping off); got 1E+300.")]
    [InlineData("--threads", "--threads (Training:Threads) must be from 0 to ")]
    [InlineData("--batch-size", "--batch-size (Training:BatchSize) must be from 0 to 65536; got 2000000000.")]
    [InlineData("--layers", "--layers (Training:CharLm:Layers) must be from 1 to 256; got 100000.")]
    [InlineData("--momentum", "--momentum (Training:Momentum) must be a number at least 0 and below 1; got 5.")]
    [InlineData("--fault", "--fault #1 (Training:Faults:0): factor must be a number above 0 and at most 1E+06; got 1E+300.")]
    public void Values_beyond_what_float32_and_the_machine_hold_are_refused_with_the_bound(string option, string expected)
    {
        var options = new TrainingOptions { Optimizer = OptimizerNames.Sgd };
        switch (option)
        {
            case "--grad-clip": options.GradClip = 1e300; break;
            case "--threads": options.Threads = 100_000; break;
            case "--batch-size": options.BatchSize = 2_000_000_000; break;
            case "--layers": options.CharLm.Layers = 100_000; break;
            case "--momentum": options.Momentum = 5; break;
            default: options.Faults.Add(new FaultOptions { Kind = FaultKinds.LrSpike, Step = 5, Factor = 1e300 }); break;
        }
        Assert.StartsWith(expected, Assert.Single(Failures(options)), StringComparison.Ordinal);
    }

    [Fact]
    public void Threads_may_be_a_few_per_core_and_no_more()
    {
        Assert.Empty(Failures(new TrainingOptions { Threads = NumericLimits.MaxThreads }));
        Assert.Single(Failures(new TrainingOptions { Threads = NumericLimits.MaxThreads + 1 }));
        Assert.Equal(NumericLimits.ThreadsPerCore * Environment.ProcessorCount, NumericLimits.MaxThreads);
    }

    [Fact]
    public void EveryProblemIsReported_NotJustTheFirst()
    {
        var options = new TrainingOptions { Steps = 0, Optimizer = "adam", Schedule = "step", EvalEvery = 0 };
        IReadOnlyList<string> failures = Failures(options);
        Assert.Equal(4, failures.Count);
        Assert.Contains(failures, f => f.StartsWith("--steps", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("--optimizer", StringComparison.Ordinal) && f.Contains("adamw, sgd", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("--schedule", StringComparison.Ordinal));
        Assert.Contains(failures, f => f.StartsWith("--eval-every", StringComparison.Ordinal));
    }

    [Fact]
    public void EmbeddingMustDivideByHeads()
    {
        var options = new TrainingOptions { CharLm = new CharLmOptions { EmbeddingSize = 130, Heads = 4 } };
        Assert.Contains("multiple of --heads", Assert.Single(Failures(options)), StringComparison.Ordinal);
    }

    [Fact]
    public void FaultOutsideTheRun_IsReportedWithItsIndex()
    {
        var options = new TrainingOptions { Steps = 100, Faults = [new FaultOptions { Kind = FaultKinds.LrSpike, Step = 100, Factor = 50 }] };
        string failure = Assert.Single(Failures(options));
        Assert.StartsWith("--fault #1 (Training:Faults:0): step must be within the run (0 to 99)", failure, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tomorrow")]
    [InlineData("7am")]
    [InlineData("2026-11-27")] // a date alone: which time?
    [InlineData("25:00")]
    public void A_deadline_that_is_neither_a_time_of_day_nor_a_date_and_time_is_refused(string deadline)
    {
        string failure = Assert.Single(Failures(new TrainingOptions { Deadline = deadline }));
        Assert.Equal($"--deadline (Training:Deadline): '{deadline}' is neither a time of day (07:00) nor an ISO 8601 date and time "
            + "(2026-11-27T07:00:00+01:00).", failure);
    }

    [Fact]
    public void A_trained_step_budget_below_the_steps_asked_for_is_refused()
    {
        Assert.Equal("--max-trained-steps (Training:MaxTrainedSteps) must be 0 (twice --steps) or at least --steps (600), so the run can "
            + "reach its last step; got 500.", Assert.Single(Failures(new TrainingOptions { MaxTrainedSteps = 500 })));
        Assert.Single(Failures(new TrainingOptions { MaxTrainedSteps = -1 }));
        Assert.Empty(Failures(new TrainingOptions { MaxTrainedSteps = 600 }));
    }

    [Theory]
    [InlineData(0.5, 0, 100, "--skip-batch-loss-factor (Training:Guards:SkipBatchLossFactor) must be a number above 1 and at "
        + "most 1E+06 (or 0: off); got 0.5.")]
    [InlineData(0, 120, 100, "--adaptive-grad-clip (Training:Guards:AdaptiveGradClipPercentile) must be a number at least 0 "
        + "and at most 100 (a percentile; 0: off); got 120.")]
    [InlineData(0, -1, 100, "--adaptive-grad-clip (Training:Guards:AdaptiveGradClipPercentile) must be a number at least 0")]
    [InlineData(0, 0, 1, "--grad-norm-window (Training:Guards:GradNormWindow) must be from 2 to 100000; got 1.")]
    public void StepGuards_OutOfRange_AreRefusedWithTheBound(double factor, double percentile, int window, string expected)
    {
        var options = new TrainingOptions();
        options.Guards.SkipBatchLossFactor = factor;
        options.Guards.AdaptiveGradClipPercentile = percentile;
        options.Guards.GradNormWindow = window;
        Assert.StartsWith(expected, Assert.Single(Failures(options)), StringComparison.Ordinal);
    }
}

public class RunBudgetTests
{
    private static DateTimeOffset Local(int day, int hour) =>
        new(new DateTime(2026, 11, day, hour, 0, 0, DateTimeKind.Local));

    [Fact]
    public void A_time_of_day_is_the_next_one_after_the_run_first_started()
    {
        var options = new TrainingOptions { Steps = 1500, Deadline = "07:00" };
        Assert.Equal(new RunBudget(3000, Local(27, 7)), RunBudget.From(options, Local(26, 23))); // started at night: the next morning
        Assert.Equal(Local(26, 7), RunBudget.From(options, Local(26, 6)).Deadline);             // started before 7: the same morning
    }

    [Fact]
    public void A_date_and_time_is_taken_as_written_and_no_deadline_means_none()
    {
        var at = new DateTimeOffset(2026, 11, 27, 7, 0, 0, TimeSpan.FromHours(1));
        Assert.Equal(at, RunBudget.From(new TrainingOptions { Deadline = "2026-11-27T07:00:00+01:00" }, Local(26, 23)).Deadline);
        Assert.Equal(new RunBudget(1200, null), RunBudget.From(new TrainingOptions { MaxTrainedSteps = 1200 }, Local(26, 23)));
    }

}
