using AgentTrainer.Agents.Supervision;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Summaries;
using static AgentTrainer.Agents.Tests.Shipped;

namespace AgentTrainer.Agents.Tests;

public sealed class EffectTrackerTests
{
    [Fact]
    public void An_effect_is_measured_when_its_window_of_steps_has_passed_from_the_finite_losses_alone()
    {
        var tracker = new EffectTracker(window: 4);
        double[] before = [3, 3, 5, 5]; // mean 4
        for (int i = 0; i < before.Length; i++)
        {
            Assert.Empty(tracker.Observe(Step(i, before[i])));
        }
        tracker.Started(Proposal("p1", InterventionAction.HalveLearningRate, 3), step: 4);
        InterventionOutcome pending = Assert.Single(tracker.Interventions());
        Assert.Equal((4L, 4.0, (double?)null, 3L), (pending.Step, pending.LossBefore, pending.LossAfter, pending.DecidedAtStep));

        // Measured as the 4th step after it comes, over the last 4 finite losses before that step: 5, 5, 2, 2.
        double[] after = [2, double.NaN, 2, 1, 1];
        List<MeasuredEffect> measured = [];
        for (int i = 0; i < after.Length; i++)
        {
            measured.AddRange(tracker.Observe(Step(4 + i, after[i])));
        }
        MeasuredEffect effect = Assert.Single(measured);
        Assert.Equal(("p1", 4L, 4.0, 3.5), (effect.Proposal.Id, effect.AppliedStep, effect.LossBefore, effect.LossAfter));
        Assert.Equal(3.5, Assert.Single(tracker.Interventions()).LossAfter);
    }
}
