using AgentTrainer.Agents.Supervision;
using static AgentTrainer.Agents.Tests.Shipped;

namespace AgentTrainer.Agents.Tests;

public sealed class TriggerDetectorTests
{
    private static TriggerDetector Detector(int every = 50) => new(Policy("unattended"), every); // spike 3x, grad 10x

    [Fact]
    public void A_calm_run_asks_on_schedule_only()
    {
        TriggerDetector detector = Detector(every: 25);
        string?[] triggers = [.. Enumerable.Range(0, 100).Select(i => detector.Observe(Step(i, 2.0 + (0.01 * (i % 3)))))];
        Assert.Equal([24, 49, 74, 99], triggers.Select((t, i) => (t, i)).Where(x => x.t is not null).Select(x => x.i));
        Assert.All(triggers.Where(t => t is not null), t => Assert.Equal(TriggerDetector.Scheduled, t));
    }

    [Fact]
    public void A_loss_spike_asks_at_once_and_not_again_for_the_same_trouble()
    {
        TriggerDetector detector = Detector();
        for (int i = 0; i < 30; i++)
        {
            Assert.Null(detector.Observe(Step(i, 2.0)));
        }
        Assert.Equal(TriggerDetector.LossSpike, detector.Observe(Step(30, 6.5)));
        Assert.Null(detector.Observe(Step(31, 7.0))); // within 10 steps: the same trouble
        for (int i = 32; i < 41; i++)
        {
            detector.Observe(Step(i, 2.0));
        }
        Assert.Equal(TriggerDetector.LossSpike, detector.Observe(Step(41, 9.0)));
    }

    [Fact]
    public void A_spike_needs_twenty_steps_to_compare_against()
    {
        TriggerDetector detector = Detector();
        for (int i = 0; i < 10; i++)
        {
            detector.Observe(Step(i, 2.0));
        }
        Assert.Null(detector.Observe(Step(10, 20.0)));
    }

    [Fact]
    public void An_exploding_gradient_norm_and_a_non_finite_loss_each_ask_at_once()
    {
        TriggerDetector detector = Detector();
        for (int i = 0; i < 30; i++)
        {
            detector.Observe(Step(i, 2.0, gradNorm: 0.5));
        }
        Assert.Equal(TriggerDetector.GradNormExplosion, detector.Observe(Step(30, 2.0, gradNorm: 5.5)));
        Assert.Equal(TriggerDetector.NonFiniteLoss, detector.Observe(Step(31, double.NaN)));
    }
}
