using AgentTrainer.Core.Records;
using AgentTrainer.Training.Data;
using TorchSharp;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Tasks;

/// <summary>Next-character prediction on a text corpus. Training windows start at random offsets
/// drawn from (seed, position); validation uses fixed, non-overlapping windows. The training text is a mixture of
/// sources (the corpus first): each window comes from a source drawn in proportion to its weight.</summary>
public sealed class CharLmTask : ITrainingTask, ICorruptibleTask, IMixtureTask
{
    /// <summary>The corpus's name in the mixture.</summary>
    public const string MainSource = "main";

    private readonly TextCorpus _corpus;
    private readonly Dictionary<string, long[]> _texts = new(StringComparer.Ordinal); // training tokens by SHA-256
    private readonly Tensor _validation;
    private Tensor _train; // every source's training tokens, end to end, in the mixture's order
    private WeightedSources _drawn;
    private readonly int _batchSize;
    private readonly int _context;
    private readonly int _seed;
    private readonly int _vocabulary;
    private readonly Device _device;

    /// <param name="evaluation">held-out tokens of another text (null: the corpus's own)</param>
    public CharLmTask(nn.Module<Tensor, Tensor> model, TextCorpus corpus, int batchSize, int contextLength, int seed,
        Device device, long[]? evaluation = null)
    {
        Model = model;
        _corpus = corpus;
        _batchSize = batchSize;
        _context = contextLength;
        _seed = seed;
        _vocabulary = corpus.Vocabulary.Count;
        _device = device;
        _texts[corpus.Sha256] = corpus.Train;
        _train = torch.tensor(corpus.Train, device: device);
        _validation = torch.tensor(evaluation ?? corpus.Validation, device: device);
        TrainLength = corpus.Train.Length;
        Mixture = new DataMixture([new DataSource(MainSource, corpus.Source, 1, corpus.Sha256)]);
        _drawn = new WeightedSources([(TrainLength, 1)]);
    }

    public DataMixture Mixture { get; private set; }

    public DataSource Read(string name, string path, double weight)
    {
        (long[] train, _, string sha) = _corpus.Encode(path, _context);
        _texts.TryAdd(sha, train);
        return new DataSource(name, path, weight, sha);
    }

    public void Prepare(DataMixture mixture) => WeightedSources.Prepare(this, mixture, _texts.ContainsKey,
        source => $"the text of data source '{source.Name}' ({source.Path}) is not the text it held when it was added");

    public void Use(DataMixture mixture)
    {
        Prepare(mixture);
        if (!mixture.Sources.Select(s => s.Sha256).SequenceEqual(Mixture.Sources.Select(s => s.Sha256)))
        {
            Tensor previous = _train;
            _train = torch.tensor([.. mixture.Sources.SelectMany(s => _texts[s.Sha256])], device: _device);
            previous.Dispose();
        }
        _drawn = new WeightedSources(mixture.Sources.Select(s => ((long)_texts[s.Sha256].Length, s.Weight)));
        Mixture = mixture;
    }

    public string Name => Core.Options.TaskNames.CharLm;
    public nn.Module<Tensor, Tensor> Model { get; }
    public long TrainLength { get; }
    public long SamplesPerBatch => (long)_batchSize * _context;
    public long BatchesPerEpoch => Math.Max(1, TrainLength / SamplesPerBatch);

    public (Tensor Input, Tensor Target) Batch(long position)
    {
        Random random = BatchOrder.ForPosition(_seed, position, stream: 0);
        long[] starts = [.. Enumerable.Range(0, _batchSize).Select(_ => Start(random))];
        return Split(Windows(_train, starts));
    }

    /// <summary>A window's start: in the one source drawn from (as before mixtures: one draw), else in a source drawn
    /// by weight first.</summary>
    private long Start(Random random)
    {
        (long offset, long length) = _drawn.Count > 1 ? _drawn.Pick(random) : _drawn[0];
        return offset + random.NextInt64(length - _context - 1);
    }

    /// <summary>A broken shard: random characters where text should be.</summary>
    public (Tensor Input, Tensor Target) CorruptBatch(long position)
    {
        Random noise = BatchOrder.ForPosition(_seed, position, stream: 1);
        long[] garbage = [.. Enumerable.Range(0, _batchSize * (_context + 1)).Select(_ => (long)noise.Next(_vocabulary))];
        return Split(torch.tensor(garbage, device: _device).view(_batchSize, _context + 1));
    }

    private (Tensor Input, Tensor Target) Split(Tensor windows) => (windows.narrow(1, 0, _context), windows.narrow(1, 1, _context));

    public Tensor Loss(Tensor output, Tensor target) =>
        nn.functional.cross_entropy(output.view(-1, output.shape[^1]), target.reshape(-1));

    public TaskEvaluation Evaluate(int maxBatches)
    {
        long windowCount = (_validation.shape[0] - 1) / _context;
        long batches = (windowCount + _batchSize - 1) / _batchSize;
        if (maxBatches > 0)
        {
            batches = Math.Min(batches, maxBatches);
        }
        double lossSum = 0;
        long tokens = 0;
        Model.eval();
        try
        {
            using var noGrad = torch.no_grad();
            for (long b = 0; b < batches; b++)
            {
                using var scope = torch.NewDisposeScope();
                long first = b * _batchSize, count = Math.Min(_batchSize, windowCount - first);
                long[] starts = [.. Enumerable.Range(0, (int)count).Select(i => (first + i) * _context)];
                Tensor windows = Windows(_validation, starts);
                Tensor output = Model.forward(windows.narrow(1, 0, _context));
                Tensor target = windows.narrow(1, 1, _context).reshape(-1);
                lossSum += nn.functional.cross_entropy(output.view(-1, output.shape[^1]), target, reduction: nn.Reduction.Sum).item<float>();
                tokens += target.shape[0];
            }
        }
        finally
        {
            Model.train();
        }
        double loss = lossSum / tokens;
        return new TaskEvaluation(loss, null, loss / Math.Log(2), new Dictionary<string, double>());
    }

    /// <summary>Each start's window of context + 1 tokens. The indices are built here rather than as
    /// starts + offsets in libtorch: that add's implicit alpha scalar once reached libtorch as a float
    /// ("for integral input tensors, argument alpha must not be a floating point number"), 1 run in 38.</summary>
    private Tensor Windows(Tensor tokens, long[] starts)
    {
        int width = _context + 1;
        long[] indices = new long[starts.Length * width];
        for (int row = 0; row < starts.Length; row++)
        {
            for (int column = 0; column < width; column++)
            {
                indices[(row * width) + column] = starts[row] + column;
            }
        }
        using Tensor index = torch.tensor(indices, [starts.Length, width], device: _device);
        return tokens.take(index);
    }

    public void Dispose()
    {
        _train.Dispose();
        _validation.Dispose();
        Model.Dispose();
    }
}
