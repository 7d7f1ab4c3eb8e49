using System.Diagnostics;
using AgentTrainer.Core.Records;
using AgentTrainer.Training.Trainer;

namespace AgentTrainer.Training.Loops;

/// <summary>Your loop's line to the run: call <see cref="Step"/> once after each optimizer update. Between your
/// steps it records the step, evaluates and checkpoints when due, and applies the commands waiting (the agent's,
/// the API's): a new learning rate for your next step, a rollback (your <see cref="ITrainingLoop.LoadState"/> has
/// run when <see cref="Step"/> returns), a layer reset, a pause (<see cref="Step"/> returns once resumed), a stop.
/// Used by one thread, your loop's.</summary>
public sealed class TrainingSession
{
    private readonly InteractiveTrainer _trainer;
    private readonly long _stepLimit;
    private readonly CancellationToken _cancellation;
    private long _started;
    private double _learningRate;

    internal TrainingSession(InteractiveTrainer trainer, long stepLimit, CancellationToken cancellation)
    {
        _trainer = trainer;
        _stepLimit = stepLimit;
        _cancellation = cancellation;
        Outcome = trainer.AtBoundary(stepLimit, cancellation);
        if (Outcome is null)
        {
            BeginStep();
        }
    }

    /// <summary>Whether to take another step: false once the run has ended (its steps done, stopped by a command,
    /// interrupted, diverged, out of budget; see <see cref="Outcome"/>).</summary>
    public bool Continues => Outcome is null;

    /// <summary>How the run ended (a <see cref="RunOutcomes"/> value), or null while it goes on.</summary>
    public string? Outcome { get; private set; }

    /// <summary>The step your loop takes next (0, 1, 2, ...): after a rollback, the checkpoint's step.</summary>
    public long StepNumber => _trainer.State.Step;

    /// <summary>The learning rate of the step your loop takes next: already set in every parameter group.</summary>
    public double LearningRate => _learningRate;

    /// <summary>The gradient-norm clipping threshold to use (0: do not clip), as the settings and commands set it:
    /// <c>nn.utils.clip_grad_norm_(parameters, session.GradClip)</c> when above 0.</summary>
    public double GradClip => _trainer.GradClip;

    /// <summary>Your optimizer's update, taken in a way that is safe from TorchSharp 0.107's crash under GC load in
    /// AdamW's and SGD's <c>step()</c> (see <see cref="OptimizerControl"/>): the same update, to the bit. Any other
    /// optimizer takes its own <c>step()</c>. Optional: <c>optimizer.step()</c> is yours to call instead.</summary>
    public void StepOptimizer() => _trainer.UpdateWeights();

    /// <summary>Reports the step your loop just took: its training loss, and when you have them, the examples in
    /// its batch (for the throughput figure) and the gradient norm before clipping (what the agent's
    /// gradient-explosion trigger watches). Applies the commands waiting before your next step.</summary>
    /// <exception cref="InvalidOperationException">the run has ended (<see cref="Continues"/> is false)</exception>
    public void Step(double loss, long batchSize = 0, double? gradNorm = null)
    {
        if (Outcome is not null)
        {
            throw new InvalidOperationException(
                $"The run has ended ({Outcome}) at step {StepNumber}: stop your loop when Continues is false.");
        }
        double elapsedMs = Stopwatch.GetElapsedTime(_started).TotalMilliseconds;
        var report = new StepReport(loss, gradNorm, _learningRate, batchSize, elapsedMs);
        Outcome = _trainer.EndStep(report, _started, _stepLimit, _cancellation);
        if (Outcome is null)
        {
            BeginStep();
        }
    }

    private void BeginStep()
    {
        _started = Stopwatch.GetTimestamp();
        _learningRate = _trainer.BeginStep();
    }
}
