using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Trainer;

/// <summary>How training moved one layer's weights between two evaluations: the net distance per 100
/// steps, and the straightness of the path (net distance over the summed length of the steps, from a
/// sample of steps; null when no step was sampled).</summary>
public readonly record struct WeightMovement(double DistancePer100Steps, double? Straightness);

/// <summary>Measures <see cref="WeightMovement"/> per top-level layer. Steps that all point the same way
/// (straightness near 1) mean the optimizer is limited by its step size: the lr is too low, a sign that
/// minibatch noise in the loss cannot hide. Anything else that rewrites weights (a checkpoint load, a
/// layer reset, a fault) must <see cref="Restart"/> the window, so only training's own movement counts.
/// One step in <c>sampleEvery</c> is measured, so the cost is a copy of the weights now and then.</summary>
public sealed class WeightChangeMeter(IEnumerable<(string Name, nn.Module Module)> layers, int sampleEvery = 10) : IDisposable
{
    private readonly (string Name, Parameter[] Weights)[] _layers =
        [.. layers.Select(l => (l.Name, l.Module.parameters().ToArray())).Where(l => l.Item2.Length > 0)];
    private readonly Dictionary<string, Tensor[]> _reference = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Tensor[]> _beforeStep = new(StringComparer.Ordinal);
    private readonly Dictionary<string, (double Sum, int Count)> _stepLengths = new(StringComparer.Ordinal);
    private long _referenceStep = -1;
    private bool _sampling;

    /// <summary>Call before an optimizer step: one step in <c>sampleEvery</c> has its weights copied.</summary>
    public void BeforeStep(long step)
    {
        _sampling = _referenceStep >= 0 && step % sampleEvery == 0;
        if (_sampling)
        {
            using var noGrad = no_grad();
            foreach ((string name, Parameter[] weights) in _layers)
            {
                Copy(_beforeStep, name, weights);
            }
        }
    }

    /// <summary>Call after the optimizer step: adds a sampled step's length.</summary>
    public void AfterStep()
    {
        if (!_sampling)
        {
            return;
        }
        _sampling = false;
        using var noGrad = no_grad();
        foreach ((string name, Parameter[] weights) in _layers)
        {
            (double sum, int count) = _stepLengths.GetValueOrDefault(name);
            _stepLengths[name] = (sum + Distance(weights, _beforeStep[name]), count + 1);
        }
    }

    /// <summary>Each layer's movement since the last call (none on the first call or after a restart),
    /// then remembers the weights as they are now.</summary>
    public IReadOnlyDictionary<string, WeightMovement> Measure(long step)
    {
        var movements = new Dictionary<string, WeightMovement>(StringComparer.Ordinal);
        long steps = step - _referenceStep;
        using var noGrad = no_grad();
        foreach ((string name, Parameter[] weights) in _layers)
        {
            if (_referenceStep >= 0 && steps > 0)
            {
                double moved = Distance(weights, _reference[name]);
                double? straightness = _stepLengths.TryGetValue(name, out var lengths) && lengths.Sum > 0
                    ? Math.Min(1, moved / (lengths.Sum / lengths.Count * steps))
                    : null;
                movements[name] = new WeightMovement(moved * 100 / steps, straightness);
            }
            Copy(_reference, name, weights);
        }
        _stepLengths.Clear();
        _referenceStep = step;
        return movements;
    }

    /// <summary>Weights were rewritten by something other than training: the next measurement starts afresh.</summary>
    public void Restart()
    {
        _referenceStep = -1;
        _sampling = false;
        _stepLengths.Clear();
    }

    private static double Distance(Parameter[] weights, Tensor[] other)
    {
        double squares = 0;
        for (int i = 0; i < weights.Length; i++)
        {
            using Tensor distance = weights[i].dist(other[i]);
            squares += Math.Pow(distance.item<float>(), 2);
        }
        return Math.Sqrt(squares);
    }

    private static void Copy(Dictionary<string, Tensor[]> into, string name, Parameter[] weights)
    {
        if (into.TryGetValue(name, out Tensor[]? copies))
        {
            for (int i = 0; i < weights.Length; i++)
            {
                copies[i].copy_(weights[i]);
            }
            return;
        }
        // Kept across steps: out of any dispose scope the caller may be in.
        into[name] = [.. weights.Select(w => w.detach().clone().DetachFromDisposeScope())];
    }

    public void Dispose()
    {
        foreach (Tensor tensor in _reference.Values.Concat(_beforeStep.Values).SelectMany(copies => copies))
        {
            tensor.Dispose();
        }
        _reference.Clear();
        _beforeStep.Clear();
    }
}
