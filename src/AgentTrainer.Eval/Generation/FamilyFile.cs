namespace AgentTrainer.Eval.Generation;

/// <summary>A distribution of runs (eval/families/NAME.yaml): families of runs people start, each a set of
/// ranges and choices that <see cref="ScenarioGenerator"/> draws scenarios from, with a weight.</summary>
public sealed record FamilyFile(string Source, string Description, IReadOnlyList<string> Contestants,
    IReadOnlyList<RunFamily> Families);

/// <summary>One family: which task and model, how long, which start (lr log-uniform, schedule), which
/// faults (none: healthy runs), which threads and decision mode. Ranges are [low, high].</summary>
public sealed record RunFamily
{
    public required string Name { get; init; }
    public required double Weight { get; init; }
    public required IReadOnlyList<string> Tasks { get; init; }

    /// <summary>The built assembly holding an own task (one of <see cref="Tasks"/>), null for built-in ones.</summary>
    public string? TaskAssembly { get; init; }
    public required IReadOnlyList<string> Models { get; init; }
    public required IntRange Steps { get; init; }
    public required DoubleRange LearningRate { get; init; }
    public required IReadOnlyList<string> Schedules { get; init; }
    public required IReadOnlyList<FaultRange> Faults { get; init; }
    public required IReadOnlyList<int> Threads { get; init; }

    /// <summary>Decision modes to draw from; a null entry leaves it to the eval's <c>--decisions</c> (a family that
    /// lists none is measured as the command line says, async by default).</summary>
    public required IReadOnlyList<DecisionMode?> Decisions { get; init; }

    /// <summary>Constant lrs as multiples of the drawn lr, run without an agent: the best is the oracle.</summary>
    public required IReadOnlyList<double> OracleFactors { get; init; }

    /// <summary>Configuration keys for every run of the family ("Training:CharLm:Layers": "1").</summary>
    public required IReadOnlyDictionary<string, string> Settings { get; init; }
}

/// <summary>A fault of a family: its kind, where it strikes (a fraction of the run), its factor (log-uniform),
/// count (of corrupt batches) and layers to choose from; <see cref="Repeat"/> bursts at the same spacing.</summary>
public sealed record FaultRange(string Kind, DoubleRange At, DoubleRange Factor, IntRange Count,
    IReadOnlyList<string> Layers, IntRange Repeat);

public sealed record IntRange(int Low, int High);

public sealed record DoubleRange(double Low, double High);

/// <summary>How the agent's decisions meet the run: asynchronously, as a plain <c>run</c> does (training goes
/// on while the agent thinks), or with the run paused for each decision (reproducible bit for bit).</summary>
public enum DecisionMode
{
    Async,
    Pause,
}
