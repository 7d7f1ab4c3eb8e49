using AgentTrainer.Core.Options;

namespace AgentTrainer.Eval.Suites;

/// <summary>One trouble to compare contestants on (eval/scenarios/NAME.yaml): a task, a model, a
/// start (lr and schedule), the faults injected, the seeds, and what a good agent should do.</summary>
public sealed record Scenario
{
    /// <summary>The file name without .yaml: ids in folders, tables and plots.</summary>
    public required string Name { get; init; }
    public required string Source { get; init; }
    public required string Description { get; init; }
    public required string Task { get; init; }

    /// <summary>The built assembly holding <see cref="Task"/> when it is your own (a path, or a file name beside
    /// agent-trainer); null for a built-in task.</summary>
    public string? TaskAssembly { get; init; }
    public required string Model { get; init; }
    public required int Steps { get; init; }
    public required IReadOnlyList<int> Seeds { get; init; }
    public required double LearningRate { get; init; }
    public required string Schedule { get; init; }
    public required int WarmupSteps { get; init; }
    public required int BatchSize { get; init; }

    /// <summary>Steps between evaluations and between the agent's scheduled decisions; null: the run's own
    /// defaults (a generated scenario runs as a user's plain <c>run</c> does).</summary>
    public required int? EvalEvery { get; init; }
    public required int? DecideEvery { get; init; }
    public required IReadOnlyList<FaultOptions> Faults { get; init; }
    public required ScenarioExpectation Expect { get; init; }

    /// <summary>Constant learning rates tried without an agent; the best one's final loss is the oracle.</summary>
    public required IReadOnlyList<double> OracleLearningRates { get; init; }

    /// <summary>More configuration keys for every run of the scenario ("Training:EvalBatches": "0").</summary>
    public required IReadOnlyDictionary<string, string> Settings { get; init; }

    /// <summary>The family a generated scenario was drawn from (eval --generate); null for a scenario file.
    /// A generated scenario with faults also runs without them (its no-fault twin): recovery is measured
    /// against that.</summary>
    public string? Family { get; init; }

    /// <summary>CPU threads of its runs; null: the eval's --threads-per-run.</summary>
    public int? Threads { get; init; }

    /// <summary>How the agent's decisions meet the run; null: the eval's --decisions.</summary>
    public Generation.DecisionMode? Decisions { get; init; }

    /// <summary>The step the first fault strikes, if any: recovery is measured from there.</summary>
    public int? FaultStep => Faults.Count == 0 ? null : Faults.Min(fault => fault.Step);
}

/// <summary>What a good agent does on a scenario. Improve: end lower than the baseline in every seed.
/// Keep (healthy runs, where false alarms cost): end within <see cref="ExpectationBars.KeepTolerance"/>
/// of the baseline with at most <see cref="ExpectationBars.KeepInterventionsPer1000Steps"/> interventions per 1000 steps.</summary>
public enum ScenarioExpectation
{
    Improve,
    Keep,
}

public static class ExpectationBars
{
    public const double KeepTolerance = 0.02;

    /// <summary>On every scenario, an agent does no harm when its final and best validation loss are each
    /// within this fraction of the baseline's, or better.</summary>
    public const double NoHarmTolerance = 0.02;
    public const double KeepInterventionsPer1000Steps = 1;
}
