using System.Globalization;
using AgentTrainer.Training.Data;
using AgentTrainer.Training.Loops;
using AgentTrainer.Training.Tasks;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AgentTrainer.Samples.CharMlpLoop;

/// <summary>Registers the loop under its name. agent-trainer finds this class in the built assembly
/// (<c>--task-assembly</c>); a host of your own registers it with
/// <c>services.AddTrainingLoop&lt;...&gt;()</c>.</summary>
public sealed class CharMlpLoopProvider : ITrainingLoopProvider
{
    public const string LoopName = "char-mlp-loop";

    public string Name => LoopName;

    /// <summary>Settings: <c>text</c> (a UTF-8 file or folder; default Debian's fortunes), <c>context</c> (characters
    /// seen, default 8), <c>hidden</c> (width, default 256).</summary>
    public ITrainingLoop Create(TaskContext context)
    {
        string text = context.Settings.GetValueOrDefault("text", "/usr/share/games/fortunes");
        int contextLength = Setting(context, "context", 8);
        TextCorpus corpus = TextCorpus.Load(text, contextLength);
        int batchSize = context.BatchSize > 0 ? context.BatchSize : 64;
        return new CharMlpLoop(corpus, contextLength, Setting(context, "hidden", 256), batchSize, context.Seed, context.Device);
    }

    private static int Setting(TaskContext context, string key, int fallback) =>
        context.Settings.TryGetValue(key, out string? value)
            ? int.Parse(value, CultureInfo.InvariantCulture)
            : fallback;
}

/// <summary>Your own training loop, kept as you wrote it: a character-level MLP language model (Bengio et al. 2003:
/// the last few characters, embedded, through one hidden layer, predict the next), trained with your AdamW. The
/// loop reports each step to the session; the rest of the class is what a checkpoint needs from you: the data
/// position (here the only state of yours: every batch is drawn from the seed and its position).</summary>
public sealed class CharMlpLoop : ITrainingLoop
{
    private const int EmbeddingSize = 24;
    private const int EvaluationWindows = 8192;

    private readonly long[] _train;
    private readonly long[] _validation;
    private readonly int _context;
    private readonly int _seed;
    private readonly Device _device;
    private readonly Parameter[] _parameters;
    private long _position;

    public CharMlpLoop(TextCorpus corpus, int context, int hidden, int batchSize, int seed, Device device)
    {
        _train = corpus.Train;
        _validation = corpus.Validation;
        _context = context;
        _seed = seed;
        _device = device;
        BatchSize = batchSize;
        int vocabulary = corpus.Vocabulary.Count;
        Model = nn.Sequential(
            ("embedding", nn.Embedding(vocabulary, EmbeddingSize)), ("flatten", nn.Flatten()),
            ("hidden", nn.Linear(context * EmbeddingSize, hidden)), ("act", nn.Tanh()),
            ("output", nn.Linear(hidden, vocabulary))).to(device);
        _parameters = [.. Model.parameters()];
        Optimizer = torch.optim.AdamW(_parameters, 1e-3); // the session sets the lr before every step
    }

    public string Name => CharMlpLoopProvider.LoopName;
    public int BatchSize { get; }
    public nn.Module Model { get; }
    public OptimizerHelper Optimizer { get; }

    /// <summary>The loop. Without AgentTrainer it would read
    /// <c>for (step...) TrainStep(clip, optimizer.step)</c>.</summary>
    public void Train(TrainingSession session)
    {
        while (session.Continues)
        {
            (double loss, double gradNorm) = TrainStep(session.GradClip, session.StepOptimizer);
            session.Step(loss, BatchSize, gradNorm);
        }
    }

    /// <summary>One step: the batch at the data position, forward, loss, backward, clipping,
    /// <paramref name="update"/>.</summary>
    /// <returns>the batch's loss and the gradient norm before clipping</returns>
    public (double Loss, double GradNorm) TrainStep(double gradClip, Action update)
    {
        using DisposeScope scope = torch.NewDisposeScope();
        (Tensor input, Tensor target) = Batch(_position);
        Optimizer.zero_grad();
        Tensor loss = nn.functional.cross_entropy(((nn.Module<Tensor, Tensor>)Model).forward(input), target);
        double lossValue = loss.item<float>();
        loss.backward();
        double gradNorm = nn.utils.clip_grad_norm_(_parameters, gradClip > 0 ? gradClip : double.PositiveInfinity);
        update();
        _position++;
        return (lossValue, gradNorm);
    }

    /// <summary>Random windows of the training text, the same for the same position.</summary>
    private (Tensor Input, Tensor Target) Batch(long position)
    {
        Random random = BatchOrder.ForPosition(_seed, position, stream: 0);
        var inputs = new long[BatchSize * _context];
        var targets = new long[BatchSize];
        for (int row = 0; row < BatchSize; row++)
        {
            int start = random.Next(_train.Length - _context);
            Array.Copy(_train, start, inputs, row * _context, _context);
            targets[row] = _train[start + _context];
        }
        return (torch.tensor(inputs, [BatchSize, _context], device: _device), torch.tensor(targets, device: _device));
    }

    /// <summary>Cross-entropy (nats per character) over evenly spaced windows of the held-out text.</summary>
    public TaskEvaluation Evaluate(int maxBatches)
    {
        long windows = Math.Min(EvaluationWindows, _validation.Length - _context);
        long stride = (_validation.Length - _context) / windows;
        long batches = (windows + BatchSize - 1) / BatchSize;
        batches = maxBatches > 0 ? Math.Min(batches, maxBatches) : batches;
        double total = 0;
        long count = 0;
        Model.eval();
        try
        {
            using var noGrad = torch.no_grad();
            for (long b = 0; b < batches; b++)
            {
                using DisposeScope scope = torch.NewDisposeScope();
                long rows = Math.Min(BatchSize, windows - (b * BatchSize));
                var inputs = new long[rows * _context];
                var targets = new long[rows];
                for (long row = 0; row < rows; row++)
                {
                    long start = ((b * BatchSize) + row) * stride;
                    Array.Copy(_validation, start, inputs, row * _context, _context);
                    targets[row] = _validation[start + _context];
                }
                Tensor logits = ((nn.Module<Tensor, Tensor>)Model).forward(
                    torch.tensor(inputs, [rows, _context], device: _device));
                Tensor expected = torch.tensor(targets, device: _device);
                total += nn.functional.cross_entropy(logits, expected, reduction: nn.Reduction.Sum).item<float>();
                count += rows;
            }
        }
        finally
        {
            Model.train();
        }
        double loss = total / count;
        return new TaskEvaluation(loss, null, loss / Math.Log(2), new Dictionary<string, double>());
    }

    public void SaveState(BinaryWriter writer) => writer.Write(_position);

    public void LoadState(BinaryReader reader) => _position = reader.ReadInt64();

    public void Dispose()
    {
        Optimizer.Dispose();
        Model.Dispose();
    }
}
