using System.Globalization;
using AgentTrainer.Core.Naming;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Policies;
using AgentTrainer.Eval.Running;
using YamlDotNet.Core;
using YamlDotNet.Serialization;
using YamlDotNet.Serialization.NamingConventions;

namespace AgentTrainer.Eval.Suites;

/// <summary>A suite that cannot be run. The message lists every problem, each naming its file.</summary>
public sealed class SuiteException(string message) : Exception(message);

/// <summary>Reads eval/scenarios/*.yaml and eval/contestants.yaml and checks everything before a single
/// run starts: unknown keys, wrong types, impossible values, missing policy or prompt files, replays
/// of contestants that do not exist. All problems are reported together, as <c>FILE[:LINE]: problem</c>.</summary>
public static class SuiteLoader
{
    private const string DefaultBaseline = "none";
    private const int DefaultDecideEvery = 50;

    private static readonly IDeserializer Yaml = new DeserializerBuilder()
        .WithNamingConvention(UnderscoredNamingConvention.Instance)
        .Build(); // unknown keys are errors: a typo must not silently change a scenario

    public static Suite Load(string scenariosFolder, string contestantsFile, IReadOnlyCollection<string>? onlyScenarios = null, IReadOnlyCollection<string>? onlyContestants = null)
    {
        var errors = new List<string>();
        if (!Directory.Exists(scenariosFolder))
        {
            throw new SuiteException($"{scenariosFolder}: the scenario folder does not exist.");
        }
        List<Scenario> scenarios = [];
        foreach (string file in Directory.EnumerateFiles(scenariosFolder, "*.yaml").Order(StringComparer.Ordinal))
        {
            if (Read<ScenarioFile>(file, errors) is { } parsed && ToScenario(file, parsed, errors) is { } scenario)
            {
                scenarios.Add(scenario);
            }
        }
        (List<Contestant> contestants, string baseline) = ReadContestants(contestantsFile, errors);

        if (onlyScenarios is { Count: > 0 })
        {
            errors.AddRange(onlyScenarios.Where(name => scenarios.All(s => s.Name != name))
                .Select(name => $"--scenario {name}: no such scenario in {scenariosFolder} (have: {string.Join(", ", scenarios.Select(s => s.Name))})."));
            scenarios = [.. scenarios.Where(s => onlyScenarios.Contains(s.Name))];
        }
        contestants = OnlyContestants(contestants, baseline, contestantsFile, onlyContestants, errors);
        if (scenarios.Count == 0 && errors.Count == 0)
        {
            errors.Add($"{scenariosFolder}: no scenario files (*.yaml).");
        }
        if (errors.Count > 0)
        {
            throw new SuiteException(string.Join(Environment.NewLine, errors));
        }
        return new Suite(scenarios, contestants, baseline);
    }

    /// <summary>The contestants of a generated suite (eval --generate): the file's, kept to those named and the
    /// baseline; the scenarios come from a family file.</summary>
    public static Suite WithScenarios(IReadOnlyList<Scenario> scenarios, string contestantsFile,
        IReadOnlyCollection<string> onlyContestants)
    {
        var errors = new List<string>();
        (List<Contestant> contestants, string baseline) = ReadContestants(contestantsFile, errors);
        contestants = OnlyContestants(contestants, baseline, contestantsFile, onlyContestants, errors);
        return errors.Count > 0
            ? throw new SuiteException(string.Join(Environment.NewLine, errors))
            : new Suite(scenarios, contestants, baseline);
    }

    private static List<Contestant> OnlyContestants(List<Contestant> contestants, string baseline, string file,
        IReadOnlyCollection<string>? only, List<string> errors)
    {
        if (only is not { Count: > 0 })
        {
            return contestants;
        }
        errors.AddRange(only.Where(name => contestants.All(c => c.Name != name))
            .Select(name => $"--contestant {name}: no such contestant in {file} "
                + $"(have: {string.Join(", ", contestants.Select(c => c.Name))})."));
        // A replay needs the run it replays, and the baseline is what verdicts compare with.
        var kept = new HashSet<string>(only) { baseline };
        foreach (Contestant contestant in contestants.Where(c => kept.Contains(c.Name) && c.ReplayOf is not null).ToList())
        {
            kept.Add(contestant.ReplayOf!);
        }
        return [.. contestants.Where(c => kept.Contains(c.Name))];
    }

    private static T? Read<T>(string file, List<string> errors) where T : class
    {
        if (!File.Exists(file))
        {
            errors.Add($"{file}: the file does not exist.");
            return null;
        }
        try
        {
            return Yaml.Deserialize<T>(File.ReadAllText(file)) ?? throw new YamlException("the file is empty");
        }
        catch (YamlException error)
        {
            string message = (error.InnerException?.Message ?? error.Message).Replace("Property ", "key ", StringComparison.Ordinal);
            errors.Add($"{file}:{error.Start.Line}: {message}");
            return null;
        }
    }

    private static Scenario? ToScenario(string file, ScenarioFile raw, List<string> errors)
    {
        int before = errors.Count;
        void Problem(string key, string problem) => errors.Add($"{file}: {key}: {problem}");

        string name = Path.GetFileNameWithoutExtension(file);
        if (!Names.IsValid(NameKind.Scenario, name))
        {
            Problem("file name", "must be lowercase letters, digits and dashes (it names folders and plots).");
        }
        string task = raw.Task ?? "";
        string? assembly = string.IsNullOrEmpty(raw.TaskAssembly) ? null : raw.TaskAssembly;
        if (assembly is null && !TaskNames.All.Contains(task))
        {
            Problem("task", $"must be one of {string.Join(", ", TaskNames.All)}, or your own with task_assembly; "
                + $"got '{task}'.");
        }
        if (assembly is not null && (task.Length == 0 || TaskNames.All.Contains(task)))
        {
            Problem("task", $"must name a task of task_assembly's, not a built-in one; got '{task}'.");
        }
        string model = raw.Model ?? "";
        if (assembly is not null && model.Length > 0)
        {
            Problem("model", $"chooses a built-in task's model; '{task}' builds its own.");
        }
        if (model.Length > 0 && TaskNames.All.Contains(task) && !ModelNames.ForTask(task).Contains(model))
        {
            Problem("model", $"{task} has models {string.Join(", ", ModelNames.ForTask(task))}; got '{model}'.");
        }
        int steps = raw.Steps ?? 0;
        if (steps < 10)
        {
            Problem("steps", $"must be at least 10; got {steps}.");
        }
        List<int> seeds = raw.Seeds ?? [];
        if (seeds.Count == 0 || seeds.Distinct().Count() != seeds.Count || seeds.Any(seed => seed < 0))
        {
            Problem("seeds", "must list one or more distinct, non-negative seeds.");
        }
        double lr = raw.LearningRate ?? 0;
        if (!double.IsFinite(lr) || lr <= 0)
        {
            Problem("learning_rate", $"must be a positive number; got {lr.ToString(CultureInfo.InvariantCulture)}.");
        }
        string schedule = raw.Schedule ?? ScheduleNames.Cosine;
        if (!ScheduleNames.All.Contains(schedule))
        {
            Problem("schedule", $"must be one of {string.Join(", ", ScheduleNames.All)}; got '{schedule}'.");
        }
        if (raw.WarmupSteps is < 0 || raw.WarmupSteps >= steps)
        {
            Problem("warmup_steps", $"must be from 0 to steps - 1; got {raw.WarmupSteps}.");
        }
        if (raw.BatchSize is < 0)
        {
            Problem("batch_size", $"must be 0 (the task's default) or more; got {raw.BatchSize}.");
        }
        int evalEvery = raw.EvalEvery ?? Math.Max(1, steps / 12); // the shipped scenarios' cadence
        if (evalEvery < 1 || evalEvery > steps)
        {
            Problem("eval_every", $"must be from 1 to steps; got {evalEvery}.");
        }
        if (raw.DecideEvery is < 1)
        {
            Problem("decide_every", $"must be at least 1; got {raw.DecideEvery}.");
        }
        var faults = new List<FaultOptions>();
        foreach (string text in raw.Faults ?? [])
        {
            try
            {
                FaultOptions fault = FaultSpec.Parse(text);
                faults.Add(fault);
                errors.AddRange(FaultSpec.Validate(fault, Math.Max(steps, 1)).Select(problem => $"{file}: faults: '{text}': {problem}"));
            }
            catch (FormatException error)
            {
                Problem("faults", error.Message);
            }
        }
        ScenarioExpectation? expect = raw.Expect switch
        {
            "improve" => ScenarioExpectation.Improve,
            "keep" => ScenarioExpectation.Keep,
            _ => null,
        };
        if (expect is null)
        {
            Problem("expect", $"must be improve (a good agent beats the baseline) or keep (a healthy run: a good agent mostly keeps); got '{raw.Expect}'.");
        }
        List<double> oracle = raw.OracleLearningRates ?? [];
        if (oracle.Any(value => !double.IsFinite(value) || value <= 0) || oracle.Distinct().Count() != oracle.Count)
        {
            Problem("oracle_learning_rates", "must be distinct positive numbers.");
        }
        errors.AddRange(SettingProblems(file, raw.Settings));
        if (errors.Count > before)
        {
            return null;
        }
        return new Scenario
        {
            Name = name,
            Source = file,
            Description = raw.Description?.Trim() ?? "",
            Task = task,
            TaskAssembly = assembly,
            Model = model,
            Steps = steps,
            Seeds = seeds,
            LearningRate = lr,
            Schedule = schedule,
            WarmupSteps = raw.WarmupSteps ?? 0,
            BatchSize = raw.BatchSize ?? 0,
            EvalEvery = evalEvery,
            DecideEvery = raw.DecideEvery ?? DefaultDecideEvery,
            Faults = faults,
            Expect = expect!.Value,
            OracleLearningRates = oracle,
            Settings = raw.Settings ?? [],
        };
    }

    private static (List<Contestant> Contestants, string Baseline) ReadContestants(string file, List<string> errors)
    {
        if (Read<ContestantsFile>(file, errors) is not { } raw)
        {
            return ([], DefaultBaseline);
        }
        int before = errors.Count;
        var contestants = new List<Contestant>();
        foreach (ContestantEntry entry in raw.Contestants ?? [])
        {
            string name = entry.Name ?? "";
            void Problem(string problem) => errors.Add($"{file}: contestant '{name}': {problem}");
            if (!Names.IsValid(NameKind.Scenario, name))
            {
                Problem("name must be lowercase letters, digits and dashes (it names folders and table rows).");
            }
            else if (contestants.Any(c => c.Name == name))
            {
                Problem("the name is used twice.");
            }
            else if (name.StartsWith(OracleNames.Prefix, StringComparison.Ordinal))
            {
                Problem($"names starting with '{OracleNames.Prefix}' are kept for the oracle's constant-lr runs.");
            }
            else if (name == RunPlanner.NoFaultTwin)
            {
                Problem($"'{RunPlanner.NoFaultTwin}' is kept for a generated run's twin without its fault.");
            }
            string agent = entry.Agent ?? "";
            if (!AgentProviders.All.Contains(agent))
            {
                Problem($"agent must be one of {string.Join(", ", AgentProviders.All)}; got '{agent}'.");
            }
            if (entry.Schedule is { } schedule && !ScheduleNames.All.Contains(schedule))
            {
                Problem($"schedule must be one of {string.Join(", ", ScheduleNames.All)}; got '{schedule}'.");
            }
            if (agent == AgentProviders.Replay && (entry.ReplayOf is null) == (entry.Transcript is null))
            {
                Problem("a replay names either replay_of (a contestant whose decisions it replays) or transcript (a decisions.jsonl), not both.");
            }
            if (agent != AgentProviders.Replay && (entry.ReplayOf ?? entry.Transcript) is not null)
            {
                Problem("replay_of and transcript belong to agent: replay.");
            }
            if (entry.Transcript is { } transcript && !File.Exists(transcript))
            {
                Problem($"transcript {transcript} does not exist.");
            }
            foreach ((string key, string? path) in new[] { ("prompt", entry.Prompt), ("summary_template", entry.SummaryTemplate) })
            {
                if (path is not null && !File.Exists(path))
                {
                    Problem($"{key} {path} does not exist.");
                }
            }
            if (entry.Policy is { } policy)
            {
                try
                {
                    PolicyLoader.Load(policy);
                }
                catch (PolicyException error)
                {
                    Problem($"policy: {error.Message}");
                }
            }
            errors.AddRange(SettingProblems($"{file}: contestant '{name}'", entry.Settings));
            contestants.Add(new Contestant
            {
                Name = name,
                Agent = agent,
                Policy = entry.Policy,
                SystemPrompt = entry.Prompt,
                SummaryTemplate = entry.SummaryTemplate,
                Schedule = entry.Schedule,
                ReplayOf = entry.ReplayOf,
                Transcript = entry.Transcript,
                Settings = entry.Settings ?? [],
            });
        }
        foreach (Contestant replay in contestants.Where(c => c.ReplayOf is not null))
        {
            Contestant? source = contestants.FirstOrDefault(c => c.Name == replay.ReplayOf);
            if (source is null || source.ReplayOf is not null || source.Agent == AgentProviders.None)
            {
                errors.Add($"{file}: contestant '{replay.Name}': replay_of '{replay.ReplayOf}' must name another contestant that has an agent and is not itself a replay.");
            }
        }
        if (contestants.Count == 0 && errors.Count == before)
        {
            errors.Add($"{file}: contestants: list at least one contestant.");
        }
        string baseline = raw.Baseline ?? DefaultBaseline;
        if (contestants.Count > 0 && contestants.All(c => c.Name != baseline))
        {
            errors.Add($"{file}: baseline: '{baseline}' is not one of the contestants.");
        }
        return (contestants, baseline);
    }

    /// <summary>Extra configuration keys reach the run as they are, so they must be run settings, and
    /// not the ones the harness owns (where the run writes, its seed, its threads).</summary>
    public static IEnumerable<string> SettingProblems(string where, IReadOnlyDictionary<string, string>? settings)
    {
        foreach (string key in (settings ?? new Dictionary<string, string>()).Keys)
        {
            if (!key.StartsWith("Training:", StringComparison.Ordinal) && !key.StartsWith("Agent:", StringComparison.Ordinal))
            {
                yield return $"{where}: settings: '{key}' is not a Training: or Agent: configuration key.";
            }
            else if (RunPlanner.OwnedKeys.Contains(key))
            {
                yield return $"{where}: settings: '{key}' is set by the eval harness itself.";
            }
        }
    }

    // What the YAML files hold, before validation (nulls: not given).
    private sealed class ScenarioFile
    {
        public string? Description { get; set; }
        public string? Task { get; set; }
        public string? TaskAssembly { get; set; }
        public string? Model { get; set; }
        public int? Steps { get; set; }
        public List<int>? Seeds { get; set; }
        public double? LearningRate { get; set; }
        public string? Schedule { get; set; }
        public int? WarmupSteps { get; set; }
        public int? BatchSize { get; set; }
        public int? EvalEvery { get; set; }
        public int? DecideEvery { get; set; }
        public List<string>? Faults { get; set; }
        public string? Expect { get; set; }
        public List<double>? OracleLearningRates { get; set; }
        public Dictionary<string, string>? Settings { get; set; }
    }

    private sealed class ContestantsFile
    {
        public string? Baseline { get; set; }
        public List<ContestantEntry>? Contestants { get; set; }
    }

    private sealed class ContestantEntry
    {
        public string? Name { get; set; }
        public string? Agent { get; set; }
        public string? Policy { get; set; }
        public string? Prompt { get; set; }
        public string? SummaryTemplate { get; set; }
        public string? Schedule { get; set; }
        public string? ReplayOf { get; set; }
        public string? Transcript { get; set; }
        public Dictionary<string, string>? Settings { get; set; }
    }
}

/// <summary>The oracle's runs: no agent, a constant lr from the scenario's grid.</summary>
public static class OracleNames
{
    public const string Prefix = "oracle-lr-";

    public static string For(double learningRate) => Prefix + learningRate.ToString("0.######e0", CultureInfo.InvariantCulture).Replace('+', 'p');
}
