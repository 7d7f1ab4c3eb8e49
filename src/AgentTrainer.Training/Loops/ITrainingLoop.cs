using AgentTrainer.Training.Tasks;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Loops;

/// <summary>Your own training loop under the agent — the contract for keeping the loop you have (the
/// <c>make_interactive</c> of the Interactive Training paper): your model and optimizer, your evaluation, the state
/// of yours a checkpoint must hold (data position, your own RNG), and the loop itself, which reports each step
/// to a <see cref="TrainingSession"/>. The run around it — commands at step boundaries, checkpoints and
/// rollback, faults, the agent, reviews, audit log, dashboard, records — is the same as for a built-in
/// task.</summary>
public interface ITrainingLoop : IDisposable
{
    /// <summary>The name <c>--task</c> gives (its provider's).</summary>
    string Name { get; }

    /// <summary>Your model. Its top-level and nested modules are the layers commands may name; checkpoints hold its
    /// parameters and buffers.</summary>
    nn.Module Model { get; }

    /// <summary>Your optimizer over the model's parameters. The session sets its learning rate in every parameter
    /// group before each step (commands change it; your own schedule belongs in the run's settings, not here);
    /// checkpoints hold its state; weight decay commands reach AdamW, Adam and SGD.</summary>
    OptimizerHelper Optimizer { get; }

    /// <summary>Held-out figures over at most <paramref name="maxBatches"/> batches (0: all of them); leave the
    /// model in training mode after. <see cref="TaskEvaluation.OfLoss"/> when all you have is a loss.</summary>
    TaskEvaluation Evaluate(int maxBatches);

    /// <summary>Writes what your loop needs to continue exactly from here besides model, optimizer and torch's
    /// RNG, which the checkpoint holds already: your data position, your own random generators.</summary>
    void SaveState(BinaryWriter writer);

    /// <summary>Reads back what <see cref="SaveState"/> wrote: a rollback or a resumed run continues from
    /// there.</summary>
    void LoadState(BinaryReader reader);

    /// <summary>Your loop: <c>while (session.Continues) { ...one step...; session.Step(loss); }</c>. Commands are
    /// applied inside <see cref="TrainingSession.Step"/>, between your steps; a rollback there has already called
    /// <see cref="LoadState"/> when it returns.</summary>
    void Train(TrainingSession session);
}

/// <summary>Registers your loop under a name, as <see cref="ITrainingTaskProvider"/> does a task: <c>--task NAME</c>
/// builds it through <see cref="Create"/> (found in <c>--task-assembly PATH</c>, or registered with
/// <see cref="OwnTaskServices.AddTrainingLoop{TProvider}"/>).</summary>
public interface ITrainingLoopProvider
{
    /// <summary>The name <c>--task</c> gives; not one of the built-in tasks' or another task's.</summary>
    string Name { get; }

    /// <summary>Loads the data and builds model and optimizer on <see cref="TaskContext.Device"/>; the model right
    /// after <c>torch.manual_seed(Seed)</c>. The run's settings (lr, weight decay) are in <see cref="TaskContext"/>'s
    /// settings only as you read them: the session sets the learning rate before every step.</summary>
    ITrainingLoop Create(TaskContext context);
}
