using System.Globalization;
using AgentTrainer.Core.Naming;
using AgentTrainer.Core.Options;
using AgentTrainer.Eval.Suites;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace AgentTrainer.Eval.Generation;

/// <summary>Reads a family file and checks it whole before anything runs: unknown keys, ranges upside down,
/// unknown tasks, models, schedules or fault kinds, each reported as <c>FILE: family NAME: key: problem</c>.</summary>
public static class FamilyLoader
{
    /// <summary>The shortest and longest run a family may draw.</summary>
    public const int MinSteps = 50;
    public const int MaxSteps = 100_000;

    private static readonly IDeserializer Yaml = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .Build(); // unknown keys are errors: a typo must not silently change a distribution

    public static FamilyFile Load(string file)
    {
        if (!File.Exists(file))
        {
            throw new SuiteException($"{file}: the family file does not exist.");
        }
        RawFile raw;
        try
        {
            raw = Yaml.Deserialize<RawFile>(File.ReadAllText(file)) ?? throw new YamlException("the file is empty");
        }
        catch (YamlException error)
        {
            string message = (error.InnerException?.Message ?? error.Message)
                .Replace("Property ", "key ", StringComparison.Ordinal);
            throw new SuiteException($"{file}:{error.Start.Line}: {message}");
        }
        var errors = new List<string>();
        var families = new List<RunFamily>();
        foreach (RawFamily entry in raw.Families ?? [])
        {
            if (ToFamily(entry, $"{file}: family '{entry.Name}'", errors) is { } family)
            {
                families.Add(family);
            }
        }
        if ((raw.Families ?? []).Count == 0)
        {
            errors.Add($"{file}: families: list at least one family.");
        }
        errors.AddRange(families.GroupBy(f => f.Name).Where(g => g.Count() > 1)
            .Select(g => $"{file}: family '{g.Key}': the name is used twice."));
        if (errors.Count > 0)
        {
            throw new SuiteException(string.Join(Environment.NewLine, errors));
        }
        return new FamilyFile(file, raw.Description?.Trim() ?? "", raw.Contestants ?? ["rules"], families);
    }

    private static RunFamily? ToFamily(RawFamily raw, string where, List<string> errors)
    {
        int before = errors.Count;
        void Problem(string key, string problem) => errors.Add($"{where}: {key}: {problem}");
        string name = raw.Name ?? "";
        if (!Names.IsValid(NameKind.Scenario, name))
        {
            Problem("name", "must be lowercase letters, digits and dashes (it names scenarios and table rows).");
        }
        double weight = raw.Weight ?? 1;
        if (!double.IsFinite(weight) || weight <= 0)
        {
            Problem("weight", $"must be a positive number; got {N(weight)}.");
        }
        List<string> tasks = raw.Task ?? [];
        string? assembly = string.IsNullOrEmpty(raw.TaskAssembly) ? null : raw.TaskAssembly;
        if (tasks.Count == 0 || (assembly is null && tasks.Any(t => !TaskNames.All.Contains(t))))
        {
            Problem("task", $"must list tasks among {string.Join(", ", TaskNames.All)} (or your own, with "
                + $"task_assembly); got [{string.Join(", ", tasks)}].");
        }
        List<string> models = raw.Model ?? [];
        if (models.Any(m => !tasks.Any(t => ModelNames.ForTask(t).Contains(m))))
        {
            Problem("model", $"each model must belong to one of the tasks; got [{string.Join(", ", models)}].");
        }
        IntRange steps = Ints(raw.Steps, "steps", Problem) ?? new(0, 0);
        if (steps.Low < MinSteps || steps.High > MaxSteps)
        {
            Problem("steps", $"must lie within {MinSteps} to {MaxSteps}; got [{steps.Low}, {steps.High}].");
        }
        DoubleRange lr = Doubles(raw.LearningRate, "learning_rate", Problem) ?? new(0, 0);
        if (lr.Low <= 0 || lr.High > NumericLimits.MaxLearningRate)
        {
            Problem("learning_rate", $"must be positive, at most {N(NumericLimits.MaxLearningRate)}.");
        }
        List<string> schedules = raw.Schedule ?? [ScheduleNames.Cosine];
        if (schedules.Count == 0 || schedules.Any(s => !ScheduleNames.All.Contains(s)))
        {
            Problem("schedule", $"must list schedules among {string.Join(", ", ScheduleNames.All)}.");
        }
        List<int> threads = raw.Threads ?? [1];
        if (threads.Count == 0 || threads.Any(t => t < 1))
        {
            Problem("threads", "must list thread counts of at least 1.");
        }
        List<DecisionMode?> decisions = raw.Decisions is null ? [null]
            : [.. raw.Decisions.Select(d => ParseDecision(d, Problem)).OfType<DecisionMode>().Cast<DecisionMode?>()];
        List<double> oracle = raw.OracleFactors ?? [];
        if (oracle.Any(f => !double.IsFinite(f) || f <= 0))
        {
            Problem("oracle_factors", "must be positive numbers (multiples of the drawn lr).");
        }
        var faults = new List<FaultRange>();
        foreach (RawFault fault in raw.Faults ?? [])
        {
            if (ToFault(fault, $"{where}: faults: '{fault.Kind}'", errors) is { } parsed)
            {
                faults.Add(parsed);
            }
        }
        errors.AddRange(SuiteLoader.SettingProblems(where, raw.Settings));
        return errors.Count > before ? null : new RunFamily
        {
            Name = name, Weight = weight, Tasks = tasks, TaskAssembly = assembly, Models = models, Steps = steps,
            LearningRate = lr, Schedules = schedules, Faults = faults, Threads = threads, Decisions = decisions,
            OracleFactors = oracle, Settings = raw.Settings ?? [],
        };
    }

    private static FaultRange? ToFault(RawFault raw, string where, List<string> errors)
    {
        int before = errors.Count;
        void Problem(string key, string problem) => errors.Add($"{where}: {key}: {problem}");
        string kind = raw.Kind ?? "";
        if (!FaultKinds.All.Contains(kind) || kind == FaultKinds.DataArrives)
        {
            Problem("kind", $"must be one of {string.Join(", ", FaultKinds.All.Where(k => k != FaultKinds.DataArrives))}.");
        }
        DoubleRange at = Doubles(raw.At, "at", Problem) ?? new(0.5, 0.5);
        if (at.Low <= 0 || at.High >= 1)
        {
            Problem("at", "must lie strictly between 0 and 1 (a fraction of the run).");
        }
        DoubleRange factor = Doubles(raw.Factor, "factor", Problem) ?? new(1, 1);
        if (factor.Low <= 0 || factor.High > NumericLimits.MaxScaleFactor)
        {
            Problem("factor", $"must be above 0 and at most {N(NumericLimits.MaxScaleFactor)}.");
        }
        IntRange count = Ints(raw.Count, "count", Problem) ?? new(1, 1);
        IntRange repeat = Ints(raw.Repeat, "repeat", Problem) ?? new(1, 1);
        if (count.Low < 1 || repeat.Low < 1)
        {
            Problem("count", "count and repeat must be at least 1.");
        }
        List<string> layers = raw.Layer ?? [];
        if (kind is FaultKinds.ScaleLayer or FaultKinds.ZeroLayer && layers.Count == 0)
        {
            Problem("layer", "list the layers it may strike.");
        }
        return errors.Count > before ? null : new FaultRange(kind, at, factor, count, layers, repeat);
    }

    private static DecisionMode? ParseDecision(string text, Action<string, string> problem)
    {
        switch (text)
        {
            case "async": return DecisionMode.Async;
            case "pause": return DecisionMode.Pause;
            default:
                problem("decisions", $"must list async (as a plain run decides) or pause; got '{text}'.");
                return null;
        }
    }

    private static IntRange? Ints(List<double>? values, string key, Action<string, string> problem) =>
        Doubles(values, key, problem) is { } range
            ? range.Low % 1 == 0 && range.High % 1 == 0 && range.High <= int.MaxValue && range.Low >= int.MinValue
                ? new IntRange((int)range.Low, (int)range.High)
                : Fail<IntRange>(problem, key, "must be whole numbers.")
            : null;

    /// <summary>A number or [low, high].</summary>
    private static DoubleRange? Doubles(List<double>? values, string key, Action<string, string> problem) =>
        values switch
        {
            null => null,
            [var one] when double.IsFinite(one) => new DoubleRange(one, one),
            [var low, var high] when double.IsFinite(low) && double.IsFinite(high) && low <= high =>
                new DoubleRange(low, high),
            _ => Fail<DoubleRange>(problem, key, "must be a number or [low, high] with low <= high."),
        };

    private static T? Fail<T>(Action<string, string> problem, string key, string message) where T : class
    {
        problem(key, message);
        return null;
    }

    private static string N(double value) => value.ToString("G6", CultureInfo.InvariantCulture);

    // What the YAML holds, before validation. Ranges read as lists; a single number is a one-item list.
    private sealed class RawFile
    {
        public string? Description { get; set; }
        public List<string>? Contestants { get; set; }
        public List<RawFamily>? Families { get; set; }
    }

    private sealed class RawFamily
    {
        public string? Name { get; set; }
        public double? Weight { get; set; }
        public List<string>? Task { get; set; }
        public string? TaskAssembly { get; set; }
        public List<string>? Model { get; set; }
        public List<double>? Steps { get; set; }
        public List<double>? LearningRate { get; set; }
        public List<string>? Schedule { get; set; }
        public List<RawFault>? Faults { get; set; }
        public List<int>? Threads { get; set; }
        public List<string>? Decisions { get; set; }
        public List<double>? OracleFactors { get; set; }
        public Dictionary<string, string>? Settings { get; set; }
    }

    private sealed class RawFault
    {
        public string? Kind { get; set; }
        public List<double>? At { get; set; }
        public List<double>? Factor { get; set; }
        public List<double>? Count { get; set; }
        public List<string>? Layer { get; set; }
        public List<double>? Repeat { get; set; }
    }
}
