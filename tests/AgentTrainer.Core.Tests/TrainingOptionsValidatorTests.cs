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
    public void LearningRate_MustBePositiveAndFinite(double learningRate)
    {
        string failure = Assert.Single(Failures(new TrainingOptions { LearningRate = learningRate }));
        Assert.StartsWith("--lr (Training:LearningRate) must be a positive finite number", failure, StringComparison.Ordinal);
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
}
