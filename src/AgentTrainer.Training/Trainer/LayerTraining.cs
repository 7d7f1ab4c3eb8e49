using AgentTrainer.Core.Commands;
using TorchSharp.Modules;
using static System.FormattableString;

namespace AgentTrainer.Training.Trainer;

/// <summary>The layers trained differently from the rest, a part of every checkpoint: each layer's lr multiplier
/// and the frozen layers.</summary>
public sealed record LayerTrainingState(
    IReadOnlyDictionary<string, double> LearningRateFactors, IReadOnlyList<string> Frozen);

/// <summary>Per-layer training, as layer commands set it: a layer's lr multiplier, a layer frozen or unfrozen. A
/// parameter in several named layers (a block and its attention) trains at the product of their multipliers, and
/// not at all when any of them is frozen. What it sets reaches the optimizer's update at once.</summary>
internal sealed class LayerTraining(ModelLayers layers, OptimizerControl optimizer)
{
    private readonly SortedDictionary<string, double> _factors = new(StringComparer.Ordinal);
    private readonly SortedSet<string> _frozen = new(StringComparer.Ordinal);

    /// <summary>Applies a freeze, unfreeze or lr multiplier; returns what changed, for the command's result.</summary>
    public string Apply(ModelLayerOperationCommand command)
    {
        Parameter[] parameters = layers.ParametersOf(command.Layer); // an unknown layer fails before any change
        if (!optimizer.HasLayerControl)
        {
            throw new CommandRejectedException(
                $"{optimizer.Optimizer.GetType().Name} has no per-layer control; AdamW's and SGD's updates do.");
        }
        long count = parameters.Sum(p => p.numel());
        string result;
        switch (command.Operation)
        {
            case LayerOperations.Freeze:
                result = _frozen.Add(command.Layer) ? Invariant($"froze {command.Layer} ({count} parameters)")
                    : $"{command.Layer} was frozen already";
                break;
            case LayerOperations.Unfreeze:
                result = _frozen.Remove(command.Layer) ? $"unfroze {command.Layer}"
                    : $"{command.Layer} was not frozen";
                break;
            default:
                double factor = command.Factor!.Value;
                double before = _factors.GetValueOrDefault(command.Layer, 1);
                SetFactor(command.Layer, factor);
                result = Invariant($"{command.Layer} lr multiplier {before:G4} -> {factor:G4} ({count} parameters)");
                break;
        }
        Push();
        return result;
    }

    public LayerTrainingState? Save() =>
        _factors.Count == 0 && _frozen.Count == 0
            ? null
            : new LayerTrainingState(new Dictionary<string, double>(_factors, StringComparer.Ordinal), [.. _frozen]);

    /// <summary>Back to what a checkpoint holds (none: every layer trains at the run's lr).</summary>
    public void Restore(LayerTrainingState? state)
    {
        bool wasDefault = _factors.Count == 0 && _frozen.Count == 0;
        _factors.Clear();
        _frozen.Clear();
        foreach ((string layer, double factor) in state?.LearningRateFactors ?? new Dictionary<string, double>())
        {
            SetFactor(layer, factor);
        }
        _frozen.UnionWith(state?.Frozen ?? []);
        if (!(wasDefault && state is null))
        {
            Push();
        }
    }

    private void SetFactor(string layer, double factor)
    {
        if (factor == 1)
        {
            _factors.Remove(layer);
        }
        else
        {
            _factors[layer] = factor;
        }
    }

    /// <summary>Hands the optimizer each parameter's multiplier (0: frozen), computed afresh from every layer's.</summary>
    private void Push()
    {
        var perParameter = new Dictionary<IntPtr, double>();
        foreach ((string layer, double factor) in _factors)
        {
            foreach (Parameter parameter in layers.ParametersOf(layer))
            {
                perParameter[parameter.Handle] = perParameter.GetValueOrDefault(parameter.Handle, 1) * factor;
            }
        }
        foreach (Parameter parameter in _frozen.SelectMany(layers.ParametersOf))
        {
            perParameter[parameter.Handle] = 0;
        }
        optimizer.SetLearningRateFactors(perParameter);
    }
}
