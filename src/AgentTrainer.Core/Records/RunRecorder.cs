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

    private readonly JsonLinesWriter _metrics;
    private readonly JsonLinesWriter _events;
    private readonly int _logEvery;

    public RunRecorder(string folder, int logEvery)
    {
        Folder = folder;
        _logEvery = logEvery;
        Directory.CreateDirectory(folder);
        _metrics = new JsonLinesWriter(Path.Combine(folder, MetricsFile));
        _events = new JsonLinesWriter(Path.Combine(folder, EventsFile));
    }

    public string Folder { get; }

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

    /// <summary>Replaces run.json atomically, so a reader never sees half a file.</summary>
    public void WriteSummary(RunSummary summary)
    {
        string path = Path.Combine(Folder, SummaryFile);
        string temporary = path + ".tmp";
        File.WriteAllText(temporary, JsonSerializer.Serialize(summary, RunJson.Indented));
        File.Move(temporary, path, overwrite: true);
    }

    public void Dispose()
    {
        _metrics.Dispose();
        _events.Dispose();
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
