using AgentTrainer.Core.Options;
using AgentTrainer.Training.Data;
using AgentTrainer.Training.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Tasks;

/// <summary>Builds the task named in the options: its data, its model (seeded), on the run's device.</summary>
public static class TrainingTaskFactory
{
    public static int DefaultBatchSize(string task) => task == TaskNames.FashionMnist ? 64 : 32;

    /// <summary>Loads the task's data. Separate from <see cref="Create"/> so a missing data set is
    /// reported before any model is built.</summary>
    public static ITrainingTask Create(TrainingOptions options, Device device)
    {
        int batchSize = options.BatchSize > 0 ? options.BatchSize : DefaultBatchSize(options.Task);
        string model = options.Model.Length > 0 ? options.Model : ModelNames.ForTask(options.Task)[0];
        switch (options.Task)
        {
            case TaskNames.FashionMnist:
            {
                FashionMnist data = FashionMnist.Load(options.Data.FashionMnistDir);
                torch.manual_seed(options.Seed);
                nn.Module<Tensor, Tensor> network = model == ModelNames.Cnn
                    ? new SmallCnn(FashionMnist.Classes)
                    : new MlpClassifier(FashionMnist.ImageSize, 256, FashionMnist.Classes);
                var examples = new ClassificationData(
                    torch.tensor(data.TrainImages, [data.TrainCount, FashionMnist.ImageSize]),
                    torch.tensor(data.TrainLabels.Select(label => (long)label).ToArray()),
                    torch.tensor(data.TestImages, [data.TestCount, FashionMnist.ImageSize]),
                    torch.tensor(data.TestLabels.Select(label => (long)label).ToArray()),
                    FashionMnist.Classes,
                    // Fashion-MNIST's pixel mean and standard deviation.
                    images => (images.to_type(ScalarType.Float32) / 255.0 - 0.2860) / 0.3530);
                return new ClassificationTask(TaskNames.FashionMnist, network.to(device), examples, batchSize, options.Seed, device);
            }
            case TaskNames.CharLm:
            {
                CharLmOptions lm = options.CharLm;
                TextCorpus corpus = TextCorpus.Load(options.Data.TextPath, lm.ContextLength);
                torch.manual_seed(options.Seed);
                var network = new CharGpt(corpus.Vocabulary.Count, lm.ContextLength, lm.EmbeddingSize, lm.Layers, lm.Heads);
                return new CharLmTask(network.to(device), corpus, batchSize, lm.ContextLength, options.Seed, device);
            }
            case TaskNames.Synthetic:
            {
                ClassificationData examples = SyntheticData.Create(options.Seed);
                torch.manual_seed(options.Seed);
                var network = new MlpClassifier(SyntheticData.Features, 32, SyntheticData.Classes);
                return new ClassificationTask(TaskNames.Synthetic, network.to(device), examples, batchSize, options.Seed, device);
            }
            default:
                throw new ArgumentException($"Unknown task '{options.Task}'; expected one of {string.Join(", ", TaskNames.All)}.", nameof(options));
        }
    }
}
