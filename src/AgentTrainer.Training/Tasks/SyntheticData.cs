using TorchSharp;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Tasks;

/// <summary>A task that needs no files, for fast tests: Gaussian points labelled by a fixed random
/// two-layer teacher network, so a student MLP can learn it but not instantly.</summary>
public static class SyntheticData
{
    public const int Features = 16;
    public const int Classes = 4;
    public const int TrainCount = 4096;
    private const int TestCount = 1024;

    public static ClassificationData Create(int seed)
    {
        using var generator = new Generator((ulong)seed + 7919, torch.CPU);
        using var scope = torch.NewDisposeScope();
        Tensor teacherIn = torch.randn([Features, 32], generator: generator);
        Tensor teacherOut = torch.randn([32, Classes], generator: generator);
        Tensor inputs = torch.randn([TrainCount + TestCount, Features], generator: generator);
        Tensor labels = nn.functional.relu(inputs.matmul(teacherIn)).matmul(teacherOut).argmax(1);
        return new ClassificationData(
            inputs.narrow(0, 0, TrainCount).clone().MoveToOuterDisposeScope(),
            labels.narrow(0, 0, TrainCount).clone().MoveToOuterDisposeScope(),
            inputs.narrow(0, TrainCount, TestCount).clone().MoveToOuterDisposeScope(),
            labels.narrow(0, TrainCount, TestCount).clone().MoveToOuterDisposeScope(),
            Classes,
            batch => batch);
    }
}
