using System.Text.Json.Nodes;
using AgentTrainer.Core.Options;
using AgentTrainer.Eval.Generation;
using AgentTrainer.Eval.Suites;

namespace AgentTrainer.Eval.Running;

/// <summary>How a suite is run: where, how short (a reduced suite for CI), how many seeds, how many
/// CPU threads each run gets (results are reproducible for a given seed and thread count).</summary>
public sealed record EvalSettings
{
    public required string OutputFolder { get; init; }

    /// <summary>Scales every step count of a scenario (steps, fault steps, evaluation and decision
    /// intervals); 1 runs scenarios as written.</summary>
    public double StepScale { get; init; } = 1;

    /// <summary>Use only the first this many seeds of each scenario (null: all).</summary>
    public int? MaxSeeds { get; init; }

    /// <summary>CPU threads for each run; 0: the run's own default (all cores), as a plain <c>run</c> has.</summary>
    public int ThreadsPerRun { get; init; }

    /// <summary>How agents' decisions meet their runs, where a scenario does not say: asynchronously, as a
    /// plain <c>run</c> decides (the default), or with the run paused for each (reproducible bit for bit).</summary>
    public DecisionMode Decisions { get; init; } = DecisionMode.Async;

    /// <summary>Configuration keys set for every run, over the scenario's and the contestant's (--set).</summary>
    public IReadOnlyDictionary<string, string> Overrides { get; init; } = new Dictionary<string, string>();
}

/// <summary>Expands a suite into runs: every scenario x contestant x seed, plus the oracle's constant-lr
/// grid for scenarios that name one, plus a generated scenario's no-fault twin. Runs are started as a user's
/// plain <c>run</c> is (asynchronous decisions, the run's threads, checkpoint and snapshot cadence) unless
/// the settings ask for the reproducible variant: with PauseWhileDeciding a seed and the recorded decisions
/// reproduce a run bit for bit.</summary>
public static class RunPlanner
{
    public const string RunsFolder = "runs";

    /// <summary>The baseline's run of a generated scenario without its faults: what the run would have
    /// reached had nothing gone wrong (recovery is measured against it).</summary>
    public const string NoFaultTwin = "no-fault";

    /// <summary>Configuration keys the harness sets itself; a suite may not override them.</summary>
    public static readonly IReadOnlySet<string> OwnedKeys = new HashSet<string>(StringComparer.Ordinal)
    {
        "Training:Out", "Training:Seed", "Training:Threads", "Training:Steps", "Training:LogEvery", "Training:Faults",
        "Training:StartPaused", "Agent:Provider", "Agent:PauseWhileDeciding", "Agent:Replay:Transcript",
    };

    public static IReadOnlyList<RunSpec> Plan(Suite suite, EvalSettings settings)
    {
        var runs = new List<RunSpec>();
        foreach (Scenario scenario in suite.Scenarios)
        {
            IEnumerable<int> seeds = settings.MaxSeeds is { } max ? scenario.Seeds.Take(max) : scenario.Seeds;
            foreach (int seed in seeds)
            {
                runs.AddRange(suite.Contestants.Select(contestant => ForContestant(scenario, contestant, seed, settings)));
                runs.AddRange(scenario.OracleLearningRates.Select(lr => ForOracle(scenario, lr, seed, settings)));
                if (scenario.Family is not null && scenario.Faults.Count > 0)
                {
                    runs.Add(ForNoFaultTwin(scenario, suite.Contestants.First(c => c.Name == suite.Baseline), seed,
                        settings));
                }
            }
        }
        return runs;
    }

    public static string RunId(string scenario, string contestant, int seed) => $"{scenario}/{contestant}/seed-{seed}";

    private static RunSpec ForNoFaultTwin(Scenario scenario, Contestant baseline, int seed, EvalSettings settings) =>
        ForContestant(scenario with { Faults = [] }, baseline, seed, settings, NoFaultTwin) with { Scenario = scenario };

    private static RunSpec ForContestant(
        Scenario scenario, Contestant contestant, int seed, EvalSettings settings, string? runName = null)
    {
        string name = runName ?? contestant.Name;
        string id = RunId(scenario.Name, name, seed);
        string folder = FolderOf(settings, id);
        JsonObject training = Training(scenario, seed, folder, settings, contestant.Schedule ?? scenario.Schedule, scenario.LearningRate);
        var agent = new JsonObject
        {
            ["Provider"] = contestant.Agent,
            ["PauseWhileDeciding"] = (scenario.Decisions ?? settings.Decisions) == DecisionMode.Pause,
        };
        if (scenario.DecideEvery is { } decideEvery)
        {
            agent["DecideEvery"] = Scale(decideEvery, settings.StepScale);
        }
        var inputs = new List<string>();
        void File(string key, string? path)
        {
            if (path is not null)
            {
                agent[key] = Path.GetFullPath(path);
                inputs.Add(Path.GetFullPath(path));
            }
        }
        File("Policy", contestant.Policy);
        File("SystemPrompt", contestant.SystemPrompt);
        File("SummaryTemplate", contestant.SummaryTemplate);
        string? replayOf = contestant.ReplayOf is { } source ? RunId(scenario.Name, source, seed) : null;
        string? transcript = replayOf is not null
            ? Path.Combine(RunSpec.RunFolderOf(FolderOf(settings, replayOf)), "decisions.jsonl")
            : contestant.Transcript is { } fixedTranscript ? Path.GetFullPath(fixedTranscript) : null;
        if (transcript is not null)
        {
            agent["Replay"] = new JsonObject { ["Transcript"] = transcript };
            inputs.Add(transcript);
        }
        var root = new JsonObject { ["Training"] = training, ["Agent"] = agent, ["ControlPlane"] = new JsonObject { ["Enabled"] = false } };
        Merge(root, scenario.Settings);
        Merge(root, contestant.Settings);
        Merge(root, settings.Overrides);
        return new RunSpec
        {
            Id = id, Scenario = scenario, Contestant = name, Seed = seed, Folder = folder,
            FaultStep = ScaledFaultStep(scenario, settings), ReplayOf = replayOf, Inputs = inputs, Settings = root,
        };
    }

    private static RunSpec ForOracle(Scenario scenario, double lr, int seed, EvalSettings settings)
    {
        string id = RunId(scenario.Name, OracleNames.For(lr), seed);
        string folder = FolderOf(settings, id);
        JsonObject training = Training(scenario, seed, folder, settings, ScheduleNames.Constant, lr);
        var root = new JsonObject
        {
            ["Training"] = training,
            ["Agent"] = new JsonObject { ["Provider"] = AgentProviders.None },
            ["ControlPlane"] = new JsonObject { ["Enabled"] = false },
        };
        Merge(root, scenario.Settings);
        Merge(root, settings.Overrides);
        return new RunSpec
        {
            Id = id, Scenario = scenario, Contestant = OracleNames.For(lr), Seed = seed, Folder = folder,
            FaultStep = ScaledFaultStep(scenario, settings), OracleLearningRate = lr, Inputs = [], Settings = root,
        };
    }

    private static JsonObject Training(Scenario scenario, int seed, string folder, EvalSettings settings, string schedule, double lr)
    {
        double scale = settings.StepScale;
        int steps = Scale(scenario.Steps, scale);
        var faults = new JsonArray();
        foreach (FaultOptions fault in scenario.Faults)
        {
            faults.Add(new JsonObject
            {
                ["Kind"] = fault.Kind,
                ["Step"] = ScaleFaultStep(fault.Step, scenario.Steps, scale),
                ["Factor"] = fault.Factor,
                ["Count"] = fault.Count,
                ["Layer"] = fault.Layer,
                ["Path"] = fault.Path,
            });
        }
        var training = new JsonObject
        {
            ["Task"] = scenario.Task,
            ["Model"] = scenario.Model,
            ["Steps"] = steps,
            ["Seed"] = seed,
            ["LearningRate"] = lr,
            ["Schedule"] = schedule,
            ["WarmupSteps"] = scenario.WarmupSteps == 0 ? 0 : Scale(scenario.WarmupSteps, scale),
            ["BatchSize"] = scenario.BatchSize,
            ["LogEvery"] = 1,        // every step: curves, trained steps and recovery are read from metrics.jsonl
            ["Threads"] = scenario.Threads ?? settings.ThreadsPerRun,
            ["Out"] = RunSpec.RunFolderOf(folder),
            ["Faults"] = faults,
        };
        if (scenario.EvalEvery is { } evalEvery)
        {
            training["EvalEvery"] = Scale(evalEvery, scale);
        }
        if (scale < 1)
        {
            // A reduced suite keeps the run's proportions: its snapshots and checkpoints come as often per run.
            var defaults = new TrainingOptions();
            training["SnapshotEvery"] = Scale(defaults.SnapshotEvery, scale);
            training["CheckpointEvery"] = Scale(defaults.CheckpointEvery, scale);
        }
        if (scenario.TaskAssembly is { } assembly)
        {
            training["TaskAssembly"] = assembly;
        }
        return training;
    }

    private static int? ScaledFaultStep(Scenario scenario, EvalSettings settings) =>
        scenario.FaultStep is { } step ? ScaleFaultStep(step, scenario.Steps, settings.StepScale) : null;

    public static int Scale(int steps, double scale) => Math.Max(1, (int)Math.Round(steps * scale));

    /// <summary>A fault's step in a scaled run: scaled with it, and still inside it.</summary>
    public static int ScaleFaultStep(int step, int scenarioSteps, double scale) => Math.Min(Scale(scenarioSteps, scale) - 1, (int)Math.Round(step * scale));

    private static string FolderOf(EvalSettings settings, string id) => Path.GetFullPath(Path.Combine(settings.OutputFolder, RunsFolder, id));

    /// <summary>Adds "Section:Key": "value" settings into the nested JSON (as strings: configuration reads them so anyway).</summary>
    private static void Merge(JsonObject root, IReadOnlyDictionary<string, string> settings)
    {
        foreach ((string key, string value) in settings)
        {
            string[] path = key.Split(':');
            JsonObject node = root;
            foreach (string part in path[..^1])
            {
                if (node[part] is not JsonObject child)
                {
                    child = new JsonObject();
                    node[part] = child;
                }
                node = child;
            }
            node[path[^1]] = value;
        }
    }
}
