using System.Text.Json.Nodes;
using AgentTrainer.Eval.Suites;

namespace AgentTrainer.Eval.Running;

/// <summary>One run of a suite: a scenario, a contestant (or an oracle lr) and a seed, with the exact
/// settings the run is started with. Its folder holds the harness's files (settings.json, so it can be
/// re-run alone; run.log; eval-run.json) and, in run/, the run's own records.</summary>
public sealed record RunSpec
{
    /// <summary>scenario/contestant/seed-N: also the run's folder under OUT/runs.</summary>
    public required string Id { get; init; }

    /// <summary>Where the run writes its records (its --out): run/ in <see cref="Folder"/>, apart from the
    /// harness's own files, since a run refuses a folder holding files that are not a run's.</summary>
    public string RunFolder => RunFolderOf(Folder);

    public static string RunFolderOf(string folder) => Path.Combine(folder, "run");
    public required Scenario Scenario { get; init; }

    /// <summary>A contestant's name, or oracle-lr-X for the oracle's grid.</summary>
    public required string Contestant { get; init; }
    public required int Seed { get; init; }
    public required string Folder { get; init; }

    /// <summary>The step the first fault strikes (scaled), if any.</summary>
    public int? FaultStep { get; init; }

    /// <summary>The constant lr of an oracle run.</summary>
    public double? OracleLearningRate { get; init; }

    /// <summary>The run whose recorded decisions this one replays: it must finish first.</summary>
    public string? ReplayOf { get; init; }

    /// <summary>Files the run reads whose content is part of its identity (policy, prompts, transcript).</summary>
    public required IReadOnlyList<string> Inputs { get; init; }

    public required JsonObject Settings { get; init; }

    public bool IsOracle => OracleLearningRate is not null;
}
