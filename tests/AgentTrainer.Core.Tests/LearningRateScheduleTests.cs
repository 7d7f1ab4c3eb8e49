using AgentTrainer.Core.Options;
using AgentTrainer.Core.Schedules;

namespace AgentTrainer.Core.Tests;

public class LearningRateScheduleTests
{
    [Fact]
    public void Constant_IsOneThroughout()
    {
        var schedule = new LearningRateSchedule(ScheduleNames.Constant, 100, 0);
        Assert.All(new long[] { 0, 50, 99, 500 }, step => Assert.Equal(1.0, schedule.Multiplier(step)));
    }

    [Fact]
    public void Cosine_StartsAtOne_IsHalfAtMidpoint_EndsNearZero()
    {
        var schedule = new LearningRateSchedule(ScheduleNames.Cosine, 100, 0);
        Assert.Equal(1.0, schedule.Multiplier(0), 12);
        Assert.Equal(0.5, schedule.Multiplier(50), 12);
        Assert.InRange(schedule.Multiplier(100), 1e-3, 2e-3);
        Assert.True(schedule.Multiplier(30) > schedule.Multiplier(60));
    }

    [Fact]
    public void Linear_DecaysProportionally()
    {
        var schedule = new LearningRateSchedule(ScheduleNames.Linear, 200, 0);
        Assert.Equal(0.75, schedule.Multiplier(50), 12);
        Assert.Equal(0.25, schedule.Multiplier(150), 12);
    }

    [Fact]
    public void Warmup_RisesLinearlyThenDecays()
    {
        var schedule = new LearningRateSchedule(ScheduleNames.Cosine, 110, 10);
        Assert.Equal(0.1, schedule.Multiplier(0), 12);
        Assert.Equal(1.0, schedule.Multiplier(9), 12);
        Assert.Equal(1.0, schedule.Multiplier(10), 12);
        Assert.Equal(0.5, schedule.Multiplier(60), 12);
    }

    [Fact]
    public void UnknownKind_IsRejectedWithTheAllowedNames()
    {
        var error = Assert.Throws<ArgumentException>(() => new LearningRateSchedule("step", 10, 0));
        Assert.Contains("constant, linear, cosine", error.Message, StringComparison.Ordinal);
    }
}
