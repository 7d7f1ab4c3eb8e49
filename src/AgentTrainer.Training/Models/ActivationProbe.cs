using AgentTrainer.Training.Runtime;
using TorchSharp;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Models;

/// <summary>Collects, per module, which ReLU units fired for at least one example. A unit that never
/// fires over a whole evaluation is dead. Units are features ([batch, features]) or channels
/// ([batch, channels, height, width]).</summary>
public sealed class ActivationProbe : IDisposable
{
    private readonly Dictionary<string, Tensor> _everActive = [];

    public void Record(string module, Tensor activation)
    {
        // Kept across evaluation batches: detached from every dispose scope, freed in Dispose.
        using var scope = torch.NewDisposeScope();
        long[] exampleAxes = activation.dim() == 2 ? [0] : [0, 2, 3];
        Tensor active = activation.gt(Scalars.Zero).sum(exampleAxes).gt(Scalars.Zero);
        if (_everActive.TryGetValue(module, out Tensor? previous))
        {
            Tensor merged = previous.logical_or(active).DetachFromDisposeScope();
            previous.Dispose();
            _everActive[module] = merged;
        }
        else
        {
            _everActive[module] = active.DetachFromDisposeScope();
        }
    }

    public IReadOnlyDictionary<string, double> DeadFractions() =>
        _everActive.ToDictionary(pair => pair.Key, pair => 1.0 - pair.Value.to_type(ScalarType.Float32).mean().item<float>());

    public void Dispose()
    {
        foreach (Tensor tensor in _everActive.Values)
        {
            tensor.Dispose();
        }
        _everActive.Clear();
    }
}

/// <summary>A model whose ReLU activations can be watched during evaluation.</summary>
public interface IProbedModel
{
    ActivationProbe? Probe { get; set; }
}
