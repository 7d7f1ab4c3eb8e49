using AgentTrainer.Core.Records;
using AgentTrainer.Training.Models;
using TorchSharp;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Tasks;

/// <summary>Supervised classification over in-memory examples: Fashion-MNIST and the synthetic task.
/// Inputs are stored compactly (bytes for images) and turned into normalised floats per batch. The main set is drawn
/// an epoch permutation at a time; once other training sets join the mixture (Fashion-MNIST: folders of IDX files),
/// each example of a batch is drawn from a set chosen by weight.</summary>
public sealed class ClassificationTask : ITrainingTask, ICorruptibleTask, IMixtureTask
{
    private readonly ClassificationSources? _sources;
    private readonly string _mainSha;
    private readonly Dictionary<string, (Tensor Inputs, Tensor Labels)> _sets = new(StringComparer.Ordinal);
    private Tensor? _poolInputs;
    private Tensor? _poolLabels;
    private WeightedSources _drawn = WeightedSources.None; // none: the main set alone, by epoch permutation
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

    /// <param name="sources">where the main set came from and how to read another (null: no set can be added)</param>
    public ClassificationTask(string name, nn.Module<Tensor, Tensor> model, ClassificationData data, int batchSize, int seed,
        Device device, ClassificationSources? sources = null)
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
        _sources = sources;
        _mainSha = sources?.MainSha256 ?? name;
        _sets[_mainSha] = (_trainInputs, _trainLabels);
        Mixture = new DataMixture([new DataSource("main", sources?.MainPath ?? name, 1, _mainSha)]);
    }

    public DataMixture Mixture { get; private set; }

    public DataSource Read(string name, string path, double weight)
    {
        ClassificationSources sources = _sources
            ?? throw new Data.DataSetException($"the {Name} task has no training sets to add.");
        (Tensor inputs, Tensor labels, string sha) = sources.Read(path);
        if (!_sets.TryAdd(sha, (inputs.to(_device), labels.to(_device))))
        {
            inputs.Dispose();
            labels.Dispose();
        }
        return new DataSource(name, path, weight, sha);
    }

    public void Prepare(DataMixture mixture) => WeightedSources.Prepare(this, mixture, _sets.ContainsKey,
        source => $"the training set '{source.Name}' ({source.Path}) is not the set it was when it was added");

    public void Use(DataMixture mixture)
    {
        Prepare(mixture);
        DataSource[] drawn = [.. mixture.Sources.Where(s => s.Weight > 0)];
        bool mainAlone = drawn.Length == 1 && drawn[0].Sha256 == _mainSha; // drawn as before: by epoch permutation
        _poolInputs?.Dispose();
        _poolLabels?.Dispose();
        (_poolInputs, _poolLabels) = mainAlone ? (null, null)
            : (torch.cat([.. drawn.Select(s => _sets[s.Sha256].Inputs)], 0),
                torch.cat([.. drawn.Select(s => _sets[s.Sha256].Labels)], 0));
        _drawn = mainAlone ? WeightedSources.None
            : new WeightedSources(drawn.Select(s => (_sets[s.Sha256].Labels.shape[0], s.Weight)));
        Mixture = mixture;
    }

    public string Name { get; }
    public nn.Module<Tensor, Tensor> Model { get; }
    public int TrainCount { get; }
    public long SamplesPerBatch => _batchSize;
    public long BatchesPerEpoch => TrainCount / _batchSize;

    public (Tensor Input, Tensor Target) Batch(long position)
    {
        if (_drawn.Count > 0)
        {
            return MixedBatch(position);
        }
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

    /// <summary>Each example from a set drawn by weight, then at random within it, from (seed, position).</summary>
    private (Tensor Input, Tensor Target) MixedBatch(long position)
    {
        Random random = BatchOrder.ForPosition(_seed, position, stream: 2);
        long[] picks = new long[_batchSize];
        for (int i = 0; i < picks.Length; i++)
        {
            (long offset, long count) = _drawn.Pick(random);
            picks[i] = offset + random.NextInt64(count);
        }
        using Tensor indices = torch.tensor(picks, device: _device);
        return (_normalise(_poolInputs!.index_select(0, indices)), _poolLabels!.index_select(0, indices));
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
        foreach ((Tensor inputs, Tensor labels) in _sets.Where(s => s.Key != _mainSha).Select(s => s.Value))
        {
            inputs.Dispose();
            labels.Dispose();
        }
        _poolInputs?.Dispose();
        _poolLabels?.Dispose();
        _trainInputs.Dispose();
        _trainLabels.Dispose();
        _testInputs.Dispose();
        _testLabels.Dispose();
        Model.Dispose();
    }
}

/// <summary>Where a classifier's main training set came from (its path and SHA-256), and how another set is read from a
/// path (Fashion-MNIST: a folder of IDX files): its inputs, labels and SHA-256.</summary>
public sealed record ClassificationSources(
    string MainPath, string MainSha256, Func<string, (Tensor Inputs, Tensor Labels, string Sha256)> Read);

/// <summary>Examples for a <see cref="ClassificationTask"/>, with the function that turns stored
/// inputs into the model's float inputs.</summary>
public sealed record ClassificationData(
    Tensor TrainInputs, Tensor TrainLabels, Tensor TestInputs, Tensor TestLabels, int Classes, Func<Tensor, Tensor> Normalise);
