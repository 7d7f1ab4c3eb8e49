using System.Security.Cryptography;
using System.Text;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Runs;
using AgentTrainer.Training.Runtime;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Trainer;

/// <summary>The model as layer commands, faults and evaluations see it: its modules by dotted path
/// (<see cref="LayerNames"/>), a layer reset as freshly initialised or scaled, each top-level layer's health,
/// and the signature checkpoints are checked against.</summary>
internal sealed class ModelLayers
{
    private readonly nn.Module _model;
    private readonly Dictionary<string, nn.Module> _modules;

    public ModelLayers(nn.Module model)
    {
        _model = model;
        _modules = model.named_modules().Where(pair => pair.name.Length > 0)
            .ToDictionary(pair => pair.name, pair => pair.module, StringComparer.Ordinal);
        Names = [.. _modules.Keys];
    }

    public IReadOnlyList<string> Names { get; }

    /// <summary>Re-initialises a layer as a fresh model's would be; returns its parameters (whose optimizer state
    /// must go).</summary>
    /// <exception cref="CommandRejectedException">the model has no such layer</exception>
    public Parameter[] Reset(string layer)
    {
        Parameter[] parameters = ParametersOf(layer);
        Models.ParameterInit.ResetLike(_model, _modules[layer]);
        return parameters;
    }

    /// <summary>A layer's parameters, its nested modules' included.</summary>
    /// <exception cref="CommandRejectedException">the model has no such layer</exception>
    public Parameter[] ParametersOf(string layer) =>
        [.. Find(layer, problem => new CommandRejectedException(problem)).parameters()];

    /// <summary>Multiplies a layer's parameters by <paramref name="factor"/> (a fault).</summary>
    public void Scale(string layer, double factor)
    {
        nn.Module module = Find(layer, problem => new InvalidOperationException(
            "A fault names a layer the model lacks: " + problem));
        using var noGrad = torch.no_grad();
        using Scalar scale = factor.ToScalar();
        foreach (Parameter parameter in module.parameters())
        {
            parameter.mul_(scale);
        }
    }

    /// <summary>Each top-level layer's weight and gradient norms, dead-ReLU fraction (from the evaluation) and how
    /// training moved it relative to its size.</summary>
    public List<LayerHealth> Health(
        IReadOnlyDictionary<string, double> deadFractions, IReadOnlyDictionary<string, WeightMovement> movements)
    {
        var layers = new List<LayerHealth>();
        using var noGrad = torch.no_grad();
        foreach ((string name, nn.Module module) in _model.named_children())
        {
            double weightSquares = 0, gradSquares = 0;
            foreach (Parameter parameter in module.parameters())
            {
                weightSquares += parameter.pow(Scalars.Two).sum().item<float>();
                if (parameter.grad is { } grad)
                {
                    gradSquares += grad.pow(Scalars.Two).sum().item<float>();
                }
            }
            double weightNorm = Math.Sqrt(weightSquares);
            // Movement relative to the weights' size; a layer of all zeros has none to compare with.
            WeightMovement? moved = weightNorm > 0 && movements.TryGetValue(name, out WeightMovement movement)
                ? movement
                : null;
            double? deadFraction = deadFractions.TryGetValue(name, out double dead) ? dead : null;
            layers.Add(new LayerHealth(name, weightNorm, Math.Sqrt(gradSquares), deadFraction,
                moved?.DistancePer100Steps / weightNorm, moved?.Straightness));
        }
        return layers;
    }

    /// <summary>What a checkpoint must have been taken from to be restored here: task, model class, optimizer,
    /// parameter count and a hash of every parameter's name and shape.</summary>
    public string Signature(string task, string optimizer)
    {
        (string Name, Parameter Parameter)[] parameters = [.. _model.named_parameters()];
        string shapes = string.Join(';', parameters.Select(p => $"{p.Name}:{string.Join('x', p.Parameter.shape)}"));
        string hash = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(shapes)))[..8];
        long count = parameters.Sum(p => p.Parameter.numel());
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"{task} {_model.GetName()} with {optimizer}, {count:N0} parameters, shapes {hash}");
    }

    private nn.Module Find(string layer, Func<string, Exception> unknown) =>
        _modules.TryGetValue(layer, out nn.Module? module) ? module : throw unknown(LayerNames.Problem(Names, layer)!);
}
