using AgentTrainer.Core.Options;
using AgentTrainer.Core.Schedules;
using AgentTrainer.Training.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AgentTrainer.App.Bench;

/// <summary>The loop a TorchSharp user would write by hand: the baseline the interactive trainer's
/// overhead is measured against. Same task, optimizer, clipping and schedule; nothing else.</summary>
public sealed class BareLoop : IDisposable
{
    private readonly ITrainingTask _task;
    private readonly Parameter[] _parameters;
    private readonly LearningRateSchedule _schedule;
    private readonly double _learningRate;
    private readonly double _gradClip;
    private long _step;

    public BareLoop(ITrainingTask task, TrainingOptions options)
    {
        _task = task;
        _parameters = [.. task.Model.parameters()];
        Optimizer = torch.optim.AdamW(_parameters, options.LearningRate, weight_decay: options.WeightDecay);
        _schedule = new LearningRateSchedule(options.Schedule, options.Steps, options.WarmupSteps);
        _learningRate = options.LearningRate;
        _gradClip = options.GradClip;
    }

    public AdamW Optimizer { get; }
    public nn.Module Model => _task.Model;

    public void Train(int steps)
    {
        for (int i = 0; i < steps; i++, _step++)
        {
            using var scope = torch.NewDisposeScope();
            foreach (var group in Optimizer.ParamGroups)
            {
                group.LearningRate = _learningRate * _schedule.Multiplier(_step);
            }
            (Tensor input, Tensor target) = _task.Batch(_step);
            Optimizer.zero_grad();
            Tensor loss = _task.Loss(_task.Model.forward(input), target);
            loss.backward();
            nn.utils.clip_grad_norm_(_parameters, _gradClip);
            Optimizer.step();
            _ = loss.item<float>();
        }
    }

    public void Dispose()
    {
        Optimizer.Dispose();
        _task.Dispose();
    }
}
