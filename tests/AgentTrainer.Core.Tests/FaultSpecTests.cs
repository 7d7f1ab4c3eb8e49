using AgentTrainer.Core.Options;

namespace AgentTrainer.Core.Tests;

public class FaultSpecTests
{
    [Fact]
    public void Parse_ReadsEverySetting()
    {
        FaultOptions fault = FaultSpec.Parse("scale-layer:step=300,factor=2.5e1,layer=hidden1");
        Assert.Equal(FaultKinds.ScaleLayer, fault.Kind);
        Assert.Equal(300, fault.Step);
        Assert.Equal(25.0, fault.Factor);
        Assert.Equal("hidden1", fault.Layer);
        Assert.Empty(FaultSpec.Validate(fault, 1000));
    }

    [Theory]
    [InlineData("lr-spike", "is not a fault")]
    [InlineData("lr-spike:step", "is not key=value")]
    [InlineData("lr-spike:step=abc", "is not a whole number")]
    [InlineData("lr-spike:step=3,factor=x", "is not a number")]
    [InlineData("lr-spike:step=3,speed=2", "is not a fault setting")]
    public void Parse_BadText_SaysWhatIsWrong(string text, string expected)
    {
        var error = Assert.Throws<FormatException>(() => FaultSpec.Parse(text));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Validate_LayerFaultsNeedALayer_AndSpikesAPositiveFactor()
    {
        Assert.Contains("layer must name", Assert.Single(FaultSpec.Validate(FaultSpec.Parse("zero-layer:step=5"), 10)), StringComparison.Ordinal);
        Assert.Contains("factor must be", Assert.Single(FaultSpec.Validate(FaultSpec.Parse("lr-spike:step=5,factor=-2"), 10)), StringComparison.Ordinal);
        Assert.Contains("kind 'meteor'", Assert.Single(FaultSpec.Validate(new FaultOptions { Kind = "meteor" }, 10)), StringComparison.Ordinal);
    }
}
