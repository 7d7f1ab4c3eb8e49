using AgentTrainer.Training.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Tasks;

/// <summary>Supervised classification over in-memory examples: Fashion-MNIST and the synthetic task.
/// Inputs are stored compactly (bytes for images) and turned into normalised floats per batch.</summary>
public sealed class ClassificationTask : ITrainingTask, ICorruptibleTask
{
    private readonly Tensor _trainInputs;
    private readonly Tensor _trainLabels;
    private readonly Tensor _testInputs;
    private readonly Tensor _testLabels;
    private readonly Func<Tensor, Tensor> _normalise;
    private readonly int _batchSize;
    private readonly int _seed;
    private readonly int _classes;
    private readonly Device _device;
    private long _cachedEpoch = -1;
    private int[] _cachedOrder = [];

    public ClassificationTask(string name, nn.Module<Tensor, Tensor> model, ClassificationData data, int batchSize, int seed, Device device)
    {
        Name = name;
        Model = model;
        _batchSize = batchSize;
        _seed = seed;
        _classes = data.Classes;
        _device = device;
        _normalise = data.Normalise;
        _trainInputs = data.TrainInputs.to(device);
        _trainLabels = data.TrainLabels.to(device);
        _testInputs = data.TestInputs.to(device);
        _testLabels = data.TestLabels.to(device);
        TrainCount = (int)_trainLabels.shape[0];
    }

    public string Name { get; }
    public nn.Module<Tensor, Tensor> Model { get; }
    public int TrainCount { get; }
    public long SamplesPerBatch => _batchSize;
    public long BatchesPerEpoch => TrainCount / _batchSize;

    public (Tensor Input, Tensor Target) Batch(long position)
    {
        long epoch = position / BatchesPerEpoch;
        int first = (int)(position % BatchesPerEpoch) * _batchSize;
        if (epoch != _cachedEpoch)
        {
            _cachedOrder = BatchOrder.Permutation(_seed, epoch, TrainCount);
            _cachedEpoch = epoch;
        }
        using Tensor indices = torch.tensor(_cachedOrder.AsSpan(first, _batchSize).ToArray().Select(i => (long)i).ToArray(), device: _device);
        Tensor input = _normalise(_trainInputs.index_select(0, indices));
        Tensor target = _trainLabels.index_select(0, indices);
        return (input, target);
    }

    /// <summary>A broken shard: wildly scaled inputs with labels that belong to other examples.</summary>
    public (Tensor Input, Tensor Target) CorruptBatch(long position)
    {
        (Tensor input, _) = Batch(position);
        Random random = BatchOrder.ForPosition(_seed, position, stream: 1);
        long[] wrong = [.. Enumerable.Range(0, _batchSize).Select(_ => (long)random.Next(_classes))];
        using Scalar scale = 25.0.ToScalar();
        return (input.mul(scale), torch.tensor(wrong, device: _device));
    }

    public Tensor Loss(Tensor output, Tensor target) => nn.functional.cross_entropy(output, target);

    public TaskEvaluation Evaluate(int maxBatches)
    {
        long count = _testLabels.shape[0];
        long batches = (count + _batchSize - 1) / _batchSize;
        if (maxBatches > 0)
        {
            batches = Math.Min(batches, maxBatches);
        }
        double lossSum = 0;
        long correct = 0, seen = 0;
        using var probe = new ActivationProbe();
        var probed = Model as IProbedModel;
        Model.eval();
        try
        {
            if (probed is not null)
            {
                probed.Probe = probe;
            }
            using var noGrad = torch.no_grad();
            for (long b = 0; b < batches; b++)
            {
                using var scope = torch.NewDisposeScope();
                long start = b * _batchSize, length = Math.Min(_batchSize, count - start);
                Tensor input = _normalise(_testInputs.narrow(0, start, length));
                Tensor labels = _testLabels.narrow(0, start, length);
                Tensor output = Model.forward(input);
                lossSum += nn.functional.cross_entropy(output, labels, reduction: nn.Reduction.Sum).item<float>();
                correct += output.argmax(1).eq(labels).sum().item<long>();
                seen += length;
            }
        }
        finally
        {
            if (probed is not null)
            {
                probed.Probe = null;
            }
            Model.train();
        }
        return new TaskEvaluation(lossSum / seen, correct / (double)seen, null, probe.DeadFractions());
    }

    public void Dispose()
    {
        _trainInputs.Dispose();
        _trainLabels.Dispose();
        _testInputs.Dispose();
        _testLabels.Dispose();
        Model.Dispose();
    }
}

/// <summary>Examples for a <see cref="ClassificationTask"/>, with the function that turns stored
/// inputs into the model's float inputs.</summary>
public sealed record ClassificationData(
    Tensor TrainInputs, Tensor TrainLabels, Tensor TestInputs, Tensor TestLabels, int Classes, Func<Tensor, Tensor> Normalise);
