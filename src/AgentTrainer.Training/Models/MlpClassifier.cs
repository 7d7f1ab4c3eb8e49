using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Models;

/// <summary>Two ReLU hidden layers and a linear output; flattens its input.</summary>
public sealed class MlpClassifier : nn.Module<Tensor, Tensor>, IProbedModel
{
#pragma warning disable IDE1006 // field names are the module names users see (hidden1, output)
    private readonly Linear hidden1;
    private readonly Linear hidden2;
    private readonly Linear output;
#pragma warning restore IDE1006

    public MlpClassifier(int inputs, int hidden, int classes)
        : base(nameof(MlpClassifier))
    {
        hidden1 = nn.Linear(inputs, hidden);
        hidden2 = nn.Linear(hidden, hidden);
        output = nn.Linear(hidden, classes);
        RegisterComponents();
    }

    public ActivationProbe? Probe { get; set; }

    public override Tensor forward(Tensor input)
    {
        Tensor h1 = nn.functional.relu(hidden1.forward(input.flatten(1)));
        Probe?.Record(nameof(hidden1), h1);
        Tensor h2 = nn.functional.relu(hidden2.forward(h1));
        Probe?.Record(nameof(hidden2), h2);
        return output.forward(h2);
    }
}
