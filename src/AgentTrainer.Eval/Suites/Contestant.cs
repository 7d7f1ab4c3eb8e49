namespace AgentTrainer.Eval.Suites;

/// <summary>Who drives a run (eval/contestants.yaml): no agent, a fixed schedule, the rules agent, a
/// model provider with a prompt, or a replay of another contestant's recorded decisions; each under a policy.</summary>
public sealed record Contestant
{
    public required string Name { get; init; }
    public required string Agent { get; init; }
    public string? Policy { get; init; }
    public string? SystemPrompt { get; init; }
    public string? SummaryTemplate { get; init; }

    /// <summary>Replaces the scenario's schedule (a fixed-schedule contestant: cosine).</summary>
    public string? Schedule { get; init; }

    /// <summary>Replays the decisions this contestant recorded in the same scenario and seed.</summary>
    public string? ReplayOf { get; init; }

    /// <summary>Replays a fixed transcript (a decisions.jsonl) in every scenario and seed.</summary>
    public string? Transcript { get; init; }

    /// <summary>More configuration keys for this contestant's runs (model endpoint, model name, fallback...).</summary>
    public required IReadOnlyDictionary<string, string> Settings { get; init; }
}

/// <summary>A suite: its scenarios, its contestants, and the contestant the others are compared with.</summary>
public sealed record Suite(IReadOnlyList<Scenario> Scenarios, IReadOnlyList<Contestant> Contestants, string Baseline)
{
    /// <summary>Drawn from a family file (eval --generate): its report is the figures per family.</summary>
    public bool IsGenerated => Scenarios.Any(s => s.Family is not null);
}
