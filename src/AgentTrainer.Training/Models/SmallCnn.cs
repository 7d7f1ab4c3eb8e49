using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Models;

/// <summary>Two 3x3 convolutions with max-pooling, one hidden dense layer: for 28x28 grey images.</summary>
public sealed class SmallCnn : nn.Module<Tensor, Tensor>, IProbedModel
{
#pragma warning disable IDE1006 // field names are the module names users see
    private readonly Conv2d conv1;
    private readonly Conv2d conv2;
    private readonly Linear fc1;
    private readonly Linear output;
#pragma warning restore IDE1006

    public SmallCnn(int classes)
        : base(nameof(SmallCnn))
    {
        conv1 = nn.Conv2d(1, 16, 3, padding: 1);
        conv2 = nn.Conv2d(16, 32, 3, padding: 1);
        fc1 = nn.Linear(32 * 7 * 7, 128);
        output = nn.Linear(128, classes);
        RegisterComponents();
    }

    public ActivationProbe? Probe { get; set; }

    public override Tensor forward(Tensor input)
    {
        Tensor x = input.view(-1, 1, 28, 28);
        Tensor c1 = nn.functional.relu(conv1.forward(x));
        Probe?.Record(nameof(conv1), c1);
        Tensor c2 = nn.functional.relu(conv2.forward(nn.functional.max_pool2d(c1, 2)));
        Probe?.Record(nameof(conv2), c2);
        Tensor f1 = nn.functional.relu(fc1.forward(nn.functional.max_pool2d(c2, 2).flatten(1)));
        Probe?.Record(nameof(fc1), f1);
        return output.forward(f1);
    }
}
