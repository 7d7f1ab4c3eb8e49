using AgentTrainer.Core.Options;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Trainer;

/// <summary>The optimizer and the settings commands reach into: lr and weight decay in every
/// parameter group, and per-parameter state (moments) cleared when a layer is reset.</summary>
public sealed class OptimizerControl : IDisposable
{
    private readonly Dictionary<IntPtr, int> _stateIndex;

    public OptimizerControl(TrainingOptions options, IEnumerable<Parameter> parameters)
    {
        Parameter[] list = [.. parameters];
        Optimizer = options.Optimizer == OptimizerNames.Sgd
            ? torch.optim.SGD(list, options.LearningRate, options.Momentum, weight_decay: options.WeightDecay)
            : torch.optim.AdamW(list, options.LearningRate, weight_decay: options.WeightDecay);
        _stateIndex = list.Select((parameter, index) => (parameter.Handle, index)).ToDictionary(pair => pair.Handle, pair => pair.index);
    }

    public OptimizerHelper Optimizer { get; }

    public void SetLearningRate(double learningRate)
    {
        foreach (optim.ILearningRateController group in Optimizer.ParamGroups)
        {
            group.LearningRate = learningRate;
        }
    }

    public void SetWeightDecay(double weightDecay)
    {
        foreach (ParamGroup group in Optimizer.ParamGroups.Cast<ParamGroup>())
        {
            switch (group.Options)
            {
                case AdamW.Options adamW: adamW.weight_decay = weightDecay; break;
                case SGD.Options sgd: sgd.weight_decay = weightDecay; break;
            }
        }
    }

    /// <summary>Forgets what the optimizer learned about these parameters, as for fresh ones.</summary>
    public void ResetState(IEnumerable<Parameter> parameters)
    {
        List<OptimizerState> states = Optimizer.state_dict().State;
        using var noGrad = torch.no_grad();
        foreach (Parameter parameter in parameters)
        {
            switch (states[_stateIndex[parameter.Handle]])
            {
                case AdamW.State adamW:
                    adamW.step = 0;
                    adamW.exp_avg.zero_();
                    adamW.exp_avg_sq.zero_();
                    adamW.max_exp_avg_sq?.zero_();
                    break;
                case SGD.State sgd:
                    sgd.momentum_buffer?.zero_();
                    break;
            }
        }
    }

    public void Dispose() => Optimizer.Dispose();
}
