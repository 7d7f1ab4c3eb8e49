using System.Globalization;
using AgentTrainer.Core.Options;
using AgentTrainer.Training.Data;
using AgentTrainer.Training.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Tasks;

/// <summary>Builds the task named in the options: its data, its model (seeded), on the run's device.</summary>
public static class TrainingTaskFactory
{
    /// <summary>Pixels to [0, 1], then standardised by Fashion-MNIST's pixel mean and standard deviation.</summary>
    private static Tensor NormaliseFashionMnist(Tensor images)
    {
        using Scalar range = 255.0.ToScalar(), mean = 0.2860.ToScalar(), deviation = 0.3530.ToScalar();
        return images.to_type(ScalarType.Float32).div_(range).sub_(mean).div_(deviation);
    }

    private static void RefuseBatchLargerThan(int examples, int batchSize)
    {
        if (batchSize > examples)
        {
            throw new RunOptionsException($"--batch-size (Training:BatchSize): {batchSize} is more than the {examples} training examples; "
                + "give at most that (0 picks the task's default).");
        }
    }

    /// <summary>A char-lm too large for this machine's memory is refused before it is built, rather than
    /// allocated until the machine gives out. The estimate counts weights, gradients, AdamW's two moments,
    /// the in-memory snapshots (weights and moments each) and two copies while a checkpoint is taken, and the activations kept for
    /// the backward pass (about 16 floats per token and channel, and the attention scores, per layer).</summary>
    private static void RefuseIfTooLarge(TrainingOptions options, int vocabulary, int batchSize)
    {
        CharLmOptions lm = options.CharLm;
        double width = lm.EmbeddingSize, context = lm.ContextLength;
        double parameters = (2 * vocabulary * width) + vocabulary + (context * width) + (lm.Layers * ((12 * width * width) + (13 * width)));
        // Only the snapshots the run will take are held, however many it may keep.
        long snapshots = options.SnapshotEvery == 0 ? 0 : Math.Min(options.SnapshotsKept, (options.Steps / options.SnapshotEvery) + 1);
        double parameterBytes = 4 * parameters * (4 + (3 * snapshots) + 2);
        double activationBytes = 4 * (double)batchSize * context * lm.Layers * ((16 * width) + (2 * lm.Heads * context));
        double needed = parameterBytes + activationBytes;
        long available = GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
        if (needed > 0.8 * available)
        {
            throw new RunOptionsException(string.Create(CultureInfo.InvariantCulture,
                $"the char-lm model asked for needs about {needed / (1 << 30):F1} GiB to train ({parameters:N0} parameters; --layers {lm.Layers}, "
                + $"--embedding-size {lm.EmbeddingSize}, --context-length {lm.ContextLength}, --batch-size {batchSize}, --snapshots-kept "
                + $"{options.SnapshotsKept}); this machine has {available / (double)(1 << 30):F1} GiB. Choose smaller sizes."));
        }
    }

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
                RefuseBatchLargerThan(data.TrainCount, batchSize);
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
                    NormaliseFashionMnist);
                var sources = new ClassificationSources(
                    options.Data.FashionMnistDir, FashionMnist.Sha256(data.TrainImages, data.TrainLabels), path =>
                    {
                        (byte[] images, byte[] labels) = FashionMnist.LoadTrainingSet(path);
                        return (torch.tensor(images, [labels.Length, FashionMnist.ImageSize]),
                            torch.tensor(labels.Select(label => (long)label).ToArray()), FashionMnist.Sha256(images, labels));
                    });
                return new ClassificationTask(
                    TaskNames.FashionMnist, network.to(device), examples, batchSize, options.Seed, device, sources);
            }
            case TaskNames.CharLm:
            {
                CharLmOptions lm = options.CharLm;
                TextCorpus corpus = TextCorpus.Load(options.Data.TextPath, lm.ContextLength);
                RefuseIfTooLarge(options, corpus.Vocabulary.Count, batchSize);
                torch.manual_seed(options.Seed);
                var network = new CharGpt(corpus.Vocabulary.Count, lm.ContextLength, lm.EmbeddingSize, lm.Layers, lm.Heads);
                long[]? evaluation = options.Data.EvalTextPath.Length > 0
                    ? corpus.Encode(options.Data.EvalTextPath, lm.ContextLength).Validation
                    : null;
                return new CharLmTask(network.to(device), corpus, batchSize, lm.ContextLength, options.Seed, device, evaluation);
            }
            case TaskNames.Synthetic:
            {
                ClassificationData examples = SyntheticData.Create(options.Seed);
                RefuseBatchLargerThan(SyntheticData.TrainCount, batchSize);
                torch.manual_seed(options.Seed);
                var network = new MlpClassifier(SyntheticData.Features, 32, SyntheticData.Classes);
                return new ClassificationTask(TaskNames.Synthetic, network.to(device), examples, batchSize, options.Seed, device);
            }
            default:
                throw new ArgumentException($"Unknown task '{options.Task}'; expected one of {string.Join(", ", TaskNames.All)}.", nameof(options));
        }
    }
}
