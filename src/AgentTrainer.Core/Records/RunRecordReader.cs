using System.Text.Json;
using AgentTrainer.Core.Metrics;

namespace AgentTrainer.Core.Records;

/// <summary>Reads a run folder's records back (a resumed run, reports). A line cut off by a killed
/// process is skipped, not an error.</summary>
public static class RunRecordReader
{
    public static RunSummary? ReadSummary(string folder)
    {
        string path = Path.Combine(folder, RunRecorder.SummaryFile);
        return File.Exists(path) ? JsonSerializer.Deserialize<RunSummary>(File.ReadAllText(path), RunJson.Options) : null;
    }

    /// <summary>run.json, or null when there is none or it is not one this version can read.</summary>
    public static RunSummary? TryReadSummary(string folder)
    {
        try
        {
            return ReadSummary(folder);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    public static IReadOnlyList<RunEvent> ReadEvents(string folder) =>
        [.. Lines(Path.Combine(folder, RunRecorder.EventsFile)).Select(line => Parse<RunEvent>(line)).OfType<RunEvent>()];

    /// <summary>The train and eval lines of metrics.jsonl.</summary>
    public static (IReadOnlyList<StepMetrics> Steps, IReadOnlyList<EvaluationMetrics> Evaluations) ReadMetrics(string folder)
    {
        var steps = new List<StepMetrics>();
        var evaluations = new List<EvaluationMetrics>();
        foreach ((StepMetrics? step, EvaluationMetrics? evaluation) in ReadMetricsInOrder(folder))
        {
            if (step is not null)
            {
                steps.Add(step);
            }
            else
            {
                evaluations.Add(evaluation!);
            }
        }
        return (steps, evaluations);
    }

    /// <summary>metrics.jsonl line by line, in the order things happened: one of the pair is set.</summary>
    public static IEnumerable<(StepMetrics? Step, EvaluationMetrics? Evaluation)> ReadMetricsInOrder(string folder)
    {
        foreach (string line in Lines(Path.Combine(folder, RunRecorder.MetricsFile)))
        {
            if (Parse<MetricsLine>(line) is not { } parsed)
            {
                continue;
            }
            if (parsed.Kind == "train")
            {
                yield return (new StepMetrics(parsed.Step, parsed.Epoch, parsed.Branch, parsed.Loss, parsed.Lr, parsed.GradNorm, parsed.StepMs,
                    parsed.SamplesPerS, parsed.NonFinite ?? false), null);
            }
            else if (parsed.Kind == "eval")
            {
                yield return (null, new EvaluationMetrics(parsed.Step, parsed.Branch, parsed.ValLoss, parsed.Accuracy, parsed.BitsPerChar, parsed.Layers ?? []));
            }
        }
    }

    /// <summary>The step and branch of a metrics.jsonl line; null for a line that does not parse (a torn one).</summary>
    public static (long Step, int Branch)? StepOf(string line) =>
        Parse<MetricsLine>(line) is { } parsed ? (parsed.Step, parsed.Branch) : null;

    private static IEnumerable<string> Lines(string path)
    {
        if (!File.Exists(path))
        {
            yield break;
        }
        using var reader = new StreamReader(new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete));
        while (reader.ReadLine() is { } line)
        {
            if (line.Length > 0)
            {
                yield return line;
            }
        }
    }

    private static T? Parse<T>(string line) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(line, RunJson.Options);
        }
        catch (JsonException)
        {
            return null; // a torn last line
        }
    }

    /// <summary>Either kind of metrics.jsonl line.</summary>
    private sealed record MetricsLine(string Kind, long Step, int Epoch, int Branch, double Loss, double Lr, double GradNorm, double StepMs,
        double SamplesPerS, bool? NonFinite, double ValLoss, double? Accuracy, double? BitsPerChar, IReadOnlyList<LayerHealth>? Layers);
}
