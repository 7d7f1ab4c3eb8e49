using AgentTrainer.Training.Data;
using AgentTrainer.Training.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace AgentTrainer.Samples.FashionAutoencoder;

/// <summary>Registers the task under its name. agent-trainer finds this class in the built assembly
/// (<c>--task-assembly</c>); a host of your own registers it with <c>services.AddTrainingTask&lt;...&gt;()</c>.</summary>
public sealed class FashionAutoencoderProvider : ITrainingTaskProvider
{
    public const string TaskName = "fashion-autoencoder";

    public string Name => TaskName;

    /// <summary>Settings: <c>data-dir</c> (the Fashion-MNIST IDX files), <c>code-size</c> (the bottleneck, default 32).</summary>
    public ITrainingTask Create(TaskContext context)
    {
        string folder = context.Settings.GetValueOrDefault("data-dir", "/usr/share/datasets/fashion-mnist");
        int codeSize = int.Parse(context.Settings.GetValueOrDefault("code-size", "32"), System.Globalization.CultureInfo.InvariantCulture);
        return new FashionAutoencoderTask(FashionMnist.Load(folder), context.BatchSize > 0 ? context.BatchSize : 128, codeSize, context.Seed,
            context.Device);
    }
}

/// <summary>Your own task, as the trainer needs it: an autoencoder that squeezes each Fashion-MNIST image
/// through a small code and rebuilds it (a regression: mean squared error per pixel). Batches are addressed
/// by position, so the trainer can checkpoint the data position and replay a rollback exactly.</summary>
public sealed class FashionAutoencoderTask : ITrainingTask
{
    private readonly Tensor _train;
    private readonly Tensor _test;
    private readonly int _batchSize;
    private readonly int _seed;
    private readonly Device _device;

    public FashionAutoencoderTask(FashionMnist data, int batchSize, int codeSize, int seed, Device device)
    {
        _batchSize = batchSize;
        _seed = seed;
        _device = device;
        _train = Pixels(data.TrainImages, data.TrainCount).to(device);
        _test = Pixels(data.TestImages, data.TestCount).to(device);
        // Named layers: the names commands and the agent use (reset_layer encoder_in, a fault on decoder_out).
        Model = nn.Sequential(
            ("encoder_in", nn.Linear(FashionMnist.ImageSize, 256)), ("encoder_act", nn.ReLU()),
            ("encoder_out", nn.Linear(256, codeSize)), ("code_act", nn.ReLU()),
            ("decoder_in", nn.Linear(codeSize, 256)), ("decoder_act", nn.ReLU()),
            ("decoder_out", nn.Linear(256, FashionMnist.ImageSize))).to(device);
    }

    public string Name => FashionAutoencoderProvider.TaskName;
    public nn.Module<Tensor, Tensor> Model { get; }
    public long SamplesPerBatch => _batchSize;
    public long BatchesPerEpoch => _train.shape[0] / _batchSize;

    /// <summary>The same position gives the same images: each epoch's order comes from (seed, epoch) alone.</summary>
    public (Tensor Input, Tensor Target) Batch(long position)
    {
        long epoch = position / BatchesPerEpoch;
        int first = (int)(position % BatchesPerEpoch) * _batchSize;
        int[] order = BatchOrder.Permutation(_seed, epoch, (int)_train.shape[0]);
        using Tensor indices = torch.tensor(order.AsSpan(first, _batchSize).ToArray().Select(i => (long)i).ToArray(), device: _device);
        Tensor images = _train.index_select(0, indices);
        return (images, images);
    }

    public Tensor Loss(Tensor output, Tensor target) => nn.functional.mse_loss(output, target);

    public TaskEvaluation Evaluate(int maxBatches)
    {
        long count = _test.shape[0];
        long batches = (count + _batchSize - 1) / _batchSize;
        batches = maxBatches > 0 ? Math.Min(batches, maxBatches) : batches;
        double squaredErrors = 0;
        long pixels = 0;
        Model.eval();
        try
        {
            using var noGrad = torch.no_grad();
            for (long b = 0; b < batches; b++)
            {
                using var scope = torch.NewDisposeScope();
                Tensor images = _test.narrow(0, b * _batchSize, Math.Min(_batchSize, count - (b * _batchSize)));
                squaredErrors += nn.functional.mse_loss(Model.forward(images), images, nn.Reduction.Sum).item<float>();
                pixels += images.numel();
            }
        }
        finally
        {
            Model.train();
        }
        return TaskEvaluation.OfLoss(squaredErrors / pixels);
    }

    /// <summary>Bytes 0..255 to floats in [0, 1]. The Scalar is disposed by us: TorchSharp does not keep
    /// an implicitly converted one alive for the native call (see the README's note on the optimizer step).</summary>
    private static Tensor Pixels(byte[] images, int count)
    {
        using Tensor bytes = torch.tensor(images, [count, FashionMnist.ImageSize]);
        using Scalar range = 255.0.ToScalar();
        return bytes.to_type(ScalarType.Float32).div_(range);
    }

    public void Dispose()
    {
        _train.Dispose();
        _test.Dispose();
        Model.Dispose();
    }
}
