using AgentTrainer.Core.Options;
using AgentTrainer.Training.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Trainer;

/// <summary>The optimizer and the settings commands reach into: lr and weight decay in every
/// parameter group, per-parameter state (moments) cleared when a layer is reset, and the update itself.</summary>
/// <remarks>
/// <see cref="Step"/> computes TorchSharp 0.107's AdamW / SGD update itself, in the same order and so to
/// the same bits, because TorchSharp's own <c>step()</c> can crash under GC load. It hands libtorch
/// implicitly converted <see cref="Scalar"/> temporaries (<c>param.mul_(1 - lr * weight_decay)</c>,
/// <c>alpha: 1 - beta1</c>, ...): the method reads the Scalar's native handle and calls libtorch, and
/// nothing keeps the Scalar alive after the read. A GC in that window finalizes it, the finalizer frees
/// the native c10::Scalar, and libtorch reads freed memory: "value cannot be converted to type float
/// without overflow (Scalar.h)" or a failed check, at a random step. Here every Scalar is a local
/// disposed after its last native call, or one of <see cref="Scalars"/>: reachable until libtorch is done.
/// </remarks>
public sealed class OptimizerControl : IDisposable
{
    private readonly Dictionary<IntPtr, int> _stateIndex;
    private readonly OptimizerState[] _states;
    private IReadOnlyDictionary<IntPtr, double> _learningRateFactors = new Dictionary<IntPtr, double>();

    /// <summary>The optimizer the options name, over <paramref name="parameters"/>.</summary>
    public OptimizerControl(TrainingOptions options, IEnumerable<Parameter> parameters)
        : this(Create(options, [.. parameters]))
    {
    }

    /// <summary>Your own optimizer (your own loop's): any TorchSharp optimizer; AdamW, Adam and SGD also have their
    /// weight decay and per-parameter state reachable by commands.</summary>
    public OptimizerControl(OptimizerHelper optimizer)
    {
        Optimizer = optimizer;
        Parameter[] list = [.. optimizer.ParamGroups.Cast<ParamGroup>().SelectMany(group => group.Parameters)];
        _stateIndex = list.Select((parameter, index) => (parameter.Handle, index)).ToDictionary(pair => pair.Handle, pair => pair.index);
        // The state objects live as long as the optimizer; loading a checkpoint fills them in place.
        _states = [.. Optimizer.state_dict().State];
    }

    private static OptimizerHelper Create(TrainingOptions options, Parameter[] parameters) =>
        options.Optimizer == OptimizerNames.Sgd
            ? torch.optim.SGD(parameters, options.LearningRate, options.Momentum, weight_decay: options.WeightDecay)
            : torch.optim.AdamW(parameters, options.LearningRate, weight_decay: options.WeightDecay);

    public OptimizerHelper Optimizer { get; }

    public void SetLearningRate(double learningRate)
    {
        foreach (optim.ILearningRateController group in Optimizer.ParamGroups)
        {
            group.LearningRate = learningRate;
        }
    }

    /// <summary>Whether <see cref="SetWeightDecay"/> reaches this optimizer (AdamW, Adam, SGD).</summary>
    public bool HasWeightDecay => Optimizer is AdamW or Adam or SGD;

    public void SetWeightDecay(double weightDecay)
    {
        foreach (ParamGroup group in Optimizer.ParamGroups.Cast<ParamGroup>())
        {
            switch (group.Options)
            {
                case AdamW.Options adamW: adamW.weight_decay = weightDecay; break;
                case Adam.Options adam: adam.weight_decay = weightDecay; break;
                case SGD.Options sgd: sgd.weight_decay = weightDecay; break;
                default:
                    throw new NotSupportedException(
                        $"weight decay of {Optimizer.GetType().Name} cannot be set; AdamW, Adam and SGD's can.");
            }
        }
    }

    /// <summary>Whether per-parameter lr multipliers (<see cref="SetLearningRateFactors"/>) reach this optimizer's
    /// update: ours, AdamW's and SGD's.</summary>
    public bool HasLayerControl => Optimizer is AdamW or SGD;

    /// <summary>Each parameter's lr multiplier, by handle (missing: 1; 0: left out of the update, weight decay and
    /// optimizer state included, as PyTorch leaves a parameter without a gradient).</summary>
    public void SetLearningRateFactors(IReadOnlyDictionary<IntPtr, double> factors) => _learningRateFactors = factors;

    private double FactorOf(Parameter parameter) => _learningRateFactors.GetValueOrDefault(parameter.Handle, 1);

    /// <summary>One update of every parameter from its gradient (see the remarks on why it is ours, for AdamW and
    /// SGD; any other optimizer takes its own <c>step()</c>).</summary>
    public void Step()
    {
        if (Optimizer is not (AdamW or SGD))
        {
            Optimizer.step();
            return;
        }
        using var noGrad = torch.no_grad();
        using DisposeScope scope = torch.NewDisposeScope();
        foreach (ParamGroup group in Optimizer.ParamGroups.Cast<ParamGroup>())
        {
            switch (group.Options)
            {
                case AdamW.Options adamW: StepAdamW(group, adamW); break;
                case SGD.Options sgd: StepSgd(group, sgd); break;
            }
        }
    }

    private void StepAdamW(ParamGroup group, AdamW.Options options)
    {
        double lr = options.LearningRate!.Value, beta1 = options.beta1!.Value, beta2 = options.beta2!.Value;
        using Scalar decay = (1 - (lr * options.weight_decay!.Value)).ToScalar();
        using Scalar beta1Scalar = beta1.ToScalar(), oneMinusBeta1 = (1 - beta1).ToScalar();
        using Scalar beta2Scalar = beta2.ToScalar(), oneMinusBeta2 = (1 - beta2).ToScalar();
        using Scalar eps = options.eps!.Value.ToScalar();
        foreach (Parameter parameter in group.Parameters)
        {
            double factor = FactorOf(parameter);
            if (parameter.grad is not { } grad || factor == 0)
            {
                continue;
            }
            var state = (AdamW.State)_states[_stateIndex[parameter.Handle]];
            state.step += 1;
            using Scalar? ownDecay = factor == 1 ? null : (1 - (lr * factor * options.weight_decay!.Value)).ToScalar();
            parameter.mul_(ownDecay ?? decay);
            double biasCorrection1 = 1 - Math.Pow(beta1, state.step);
            double biasCorrection2 = 1 - Math.Pow(beta2, state.step);
            state.exp_avg.mul_(beta1Scalar).add_(grad, alpha: oneMinusBeta1);
            state.exp_avg_sq.mul_(beta2Scalar).addcmul_(grad, grad, value: oneMinusBeta2);
            using Scalar root = Math.Sqrt(biasCorrection2).ToScalar();
            Tensor denominator = state.exp_avg_sq.sqrt().div_(root).add_(eps, Scalars.One);
            using Scalar stepSize = (-(lr * factor / biasCorrection1)).ToScalar();
            parameter.addcdiv_(state.exp_avg, denominator, value: stepSize);
        }
    }

    private void StepSgd(ParamGroup group, SGD.Options options)
    {
        double weightDecay = options.weight_decay!.Value, momentum = options.momentum!.Value;
        using Scalar decay = weightDecay.ToScalar();
        using Scalar momentumScalar = momentum.ToScalar(), oneMinusDampening = (1 - options.dampening!.Value).ToScalar();
        using Scalar descent = (-options.LearningRate!.Value).ToScalar();
        foreach (Parameter parameter in group.Parameters)
        {
            double factor = FactorOf(parameter);
            if (parameter.grad is not { } grad || factor == 0)
            {
                continue;
            }
            if (weightDecay != 0)
            {
                grad = grad.add(parameter, alpha: decay);
            }
            if (momentum != 0)
            {
                var state = (SGD.State)_states[_stateIndex[parameter.Handle]];
                if (state.momentum_buffer is { } buffer)
                {
                    buffer.mul_(momentumScalar).add_(grad, alpha: oneMinusDampening);
                }
                else
                {
                    state.momentum_buffer = grad.clone().detach().DetachFromDisposeScope();
                }
                grad = state.momentum_buffer;
            }
            using Scalar? ownDescent = factor == 1 ? null : (-options.LearningRate!.Value * factor).ToScalar();
            parameter.add_(grad, alpha: ownDescent ?? descent);
        }
    }

    /// <summary>Forgets what the optimizer learned about these parameters, as for fresh ones.</summary>
    public void ResetState(IEnumerable<Parameter> parameters)
    {
        using var noGrad = torch.no_grad();
        foreach (Parameter parameter in parameters)
        {
            switch (_states[_stateIndex[parameter.Handle]])
            {
                case AdamW.State adamW:
                    adamW.step = 0;
                    adamW.exp_avg.zero_();
                    adamW.exp_avg_sq.zero_();
                    adamW.max_exp_avg_sq?.zero_();
                    break;
                case Adam.State adam:
                    adam.step = 0;
                    adam.exp_avg.zero_();
                    adam.exp_avg_sq.zero_();
                    adam.max_exp_avg_sq?.zero_();
                    break;
                case SGD.State sgd:
                    sgd.momentum_buffer?.zero_();
                    break;
            }
        }
    }

    public void Dispose() => Optimizer.Dispose();
}
