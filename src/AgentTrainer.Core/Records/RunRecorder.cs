using System.Text.Json;
using AgentTrainer.Core.Metrics;

namespace AgentTrainer.Core.Records;

/// <summary>Writes a run's records into its output folder: metrics.jsonl, events.jsonl, run.json
/// (the contract documented in README.md).</summary>
public sealed class RunRecorder : IRunObserver, IDisposable
{
    public const string MetricsFile = "metrics.jsonl";
    public const string EventsFile = "events.jsonl";
    public const string SummaryFile = "run.json";

    /// <summary>Metrics come every step: they are written in bursts this far apart (a killed run trains the steps
    /// after its checkpoint again on resume, so the lines a kill loses are never missed).</summary>
    private static readonly TimeSpan MetricsBatchInterval = TimeSpan.FromMilliseconds(100);

    private readonly JsonLinesWriter _events;
    private readonly int _logEvery;
    private readonly CancellationTokenSource _failed = new();
    private JsonLinesWriter _metrics;

    public RunRecorder(string folder, int logEvery)
    {
        Folder = folder;
        _logEvery = logEvery;
        Directory.CreateDirectory(folder);
        _metrics = Watched(new JsonLinesWriter(Path.Combine(folder, MetricsFile), MetricsBatchInterval));
        _events = Watched(new JsonLinesWriter(Path.Combine(folder, EventsFile)));
    }

    private JsonLinesWriter Watched(JsonLinesWriter writer)
    {
        writer.Failed.Register(_failed.Cancel);
        return writer;
    }

    public string Folder { get; }

    /// <summary>Cancelled when the records can no longer be written (a full disk): the run must end.</summary>
    public CancellationToken Failed => _failed.Token;

    /// <summary>Throws what stopped the records, naming the file, if anything did.</summary>
    public void ThrowIfFailed()
    {
        foreach (JsonLinesWriter writer in new[] { _metrics, _events })
        {
            if (writer.Failure is { } failure)
            {
                throw new IOException($"cannot write {writer.Path}: {failure.Message}", failure);
            }
        }
    }

    /// <summary>Drops metrics lines (train and eval) whose step and branch <paramref name="superseded"/>
    /// picks: a resumed session redoes the steps after its checkpoint, so each is recorded once. Call
    /// before the run writes metrics.</summary>
    public void DropMetrics(Func<long, int, bool> superseded)
    {
        string path = _metrics.Path;
        _metrics.Dispose();
        AtomicFile.Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, leaveOpen: true);
            foreach (string line in File.ReadLines(path))
            {
                if (RunRecordReader.StepOf(line) is { } at && !superseded(at.Step, at.Branch))
                {
                    writer.WriteLine(line);
                }
            }
        });
        _metrics = Watched(new JsonLinesWriter(path, MetricsBatchInterval));
    }

    public void OnStep(StepMetrics metrics)
    {
        // Non-finite steps are always logged: they are what an overnight report must show.
        if (metrics.Step % _logEvery == 0 || metrics.NonFinite)
        {
            _metrics.Write(new TrainLine(metrics));
        }
    }

    public void OnEvaluation(EvaluationMetrics metrics) => _metrics.Write(new EvalLine(metrics));

    public void OnEvent(RunEvent runEvent) => _events.Write<RunEvent>(runEvent);

    /// <summary>Replaces run.json atomically, so a reader never sees half a file. On a disk too full for
    /// the copy that takes, run.json is overwritten in place instead: a run that fails because its disk
    /// filled must still say so (a reader tolerates a torn run.json, and a later run resumes past it).</summary>
    public void WriteSummary(RunSummary summary)
    {
        string path = Path.Combine(Folder, SummaryFile);
        string json = JsonSerializer.Serialize(summary, RunJson.Indented);
        try
        {
            AtomicFile.WriteAllText(path, json);
        }
        catch (IOException) when (File.Exists(path))
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Write);
            byte[] bytes = System.Text.Encoding.UTF8.GetBytes(json);
            file.Write(bytes);
            file.SetLength(bytes.Length);
        }
    }

    public void Dispose()
    {
        _metrics.Dispose();
        _events.Dispose();
        _failed.Dispose();
    }

    /// <summary>A metrics.jsonl line for a training step.</summary>
    private sealed record TrainLine(string Kind, long Step, int Epoch, int Branch, double Loss, double Lr, double GradNorm,
        double StepMs, double SamplesPerS, bool? NonFinite)
    {
        public TrainLine(StepMetrics m)
            : this("train", m.Step, m.Epoch, m.Branch, m.Loss, m.LearningRate, m.GradNorm, m.StepMs, m.SamplesPerSecond,
                m.NonFinite ? true : null)
        {
        }
    }

    /// <summary>A metrics.jsonl line for an evaluation.</summary>
    private sealed record EvalLine(string Kind, long Step, int Branch, double ValLoss, double? Accuracy, double? BitsPerChar,
        IReadOnlyList<LayerHealth> Layers)
    {
        public EvalLine(EvaluationMetrics m)
            : this("eval", m.Step, m.Branch, m.ValLoss, m.Accuracy, m.BitsPerChar, m.Layers)
        {
        }
    }
}
