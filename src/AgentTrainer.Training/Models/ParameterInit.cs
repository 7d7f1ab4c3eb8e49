using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Models;

/// <summary>Re-initialises a module's parameters in place (so optimizer references stay valid),
/// the way the model was first initialised.</summary>
public static class ParameterInit
{
    /// <summary>Re-initialises <paramref name="part"/> with the scheme <paramref name="model"/> was built with.</summary>
    public static void ResetLike(nn.Module model, nn.Module part)
    {
        if (model is CharGpt)
        {
            ResetGptStyle(part);
        }
        else
        {
            ResetToTorchDefaults(part);
        }
    }

    /// <summary>PyTorch's defaults: Kaiming-uniform weights, uniform biases in ±1/√fan_in.</summary>
    public static void ResetToTorchDefaults(nn.Module module)
    {
        using var noGrad = torch.no_grad();
        foreach ((string _, nn.Module child) in module.named_modules().Prepend(("", module)))
        {
            switch (child)
            {
                case Linear linear:
                    ResetWeightAndBias(linear.weight!, linear.bias, linear.in_features);
                    break;
                case Conv2d conv:
                    ResetWeightAndBias(conv.weight!, conv.bias, conv.weight!.shape[1] * conv.weight.shape[2] * conv.weight.shape[3]);
                    break;
                case LayerNorm norm:
                    norm.reset_parameters();
                    break;
                case Embedding embedding:
                    nn.init.normal_(embedding.weight!);
                    break;
            }
        }
    }

    /// <summary>GPT-2's scheme: N(0, 0.02) for linear and embedding weights, zero biases, unit layer norms.</summary>
    public static void ResetGptStyle(nn.Module module)
    {
        using var noGrad = torch.no_grad();
        foreach ((string _, nn.Module child) in module.named_modules().Prepend(("", module)))
        {
            switch (child)
            {
                case Linear linear:
                    nn.init.normal_(linear.weight!, 0, 0.02);
                    if (linear.bias is not null)
                    {
                        nn.init.zeros_(linear.bias);
                    }
                    break;
                case Embedding embedding:
                    nn.init.normal_(embedding.weight!, 0, 0.02);
                    break;
                case LayerNorm norm:
                    norm.reset_parameters();
                    break;
            }
        }
    }

    private static void ResetWeightAndBias(Tensor weight, Tensor? bias, long fanIn)
    {
        nn.init.kaiming_uniform_(weight, Math.Sqrt(5));
        if (bias is not null)
        {
            double bound = 1 / Math.Sqrt(fanIn);
            nn.init.uniform_(bias, -bound, bound);
        }
    }
}
