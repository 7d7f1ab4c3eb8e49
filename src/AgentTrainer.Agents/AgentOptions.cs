using AgentTrainer.Core.Options;
namespace AgentTrainer.Agents;

/// <summary>The "Agent" section of appsettings.json: who decides, how often, under which policy,
/// and how model calls are guarded.</summary>
public sealed class AgentOptions
{
    public const string Section = "Agent";

    /// <summary>none, rules, openai, azure-openai or replay.</summary>
    public string Provider { get; set; } = AgentProviders.None;

    /// <summary>Ask for a decision every this many steps (guards can ask sooner).</summary>
    public int DecideEvery { get; set; } = 50;

    /// <summary>Hold training while the agent decides (exact reproducibility) instead of applying
    /// its decision at the first step boundary after it arrives.</summary>
    public bool PauseWhileDeciding { get; set; }

    /// <summary>Model turns per decision (a refused proposal may be followed by another).</summary>
    public int MaxTurns { get; set; } = 2;

    public string Policy { get; set; } = "policies/unattended.yaml";
    public string SystemPrompt { get; set; } = "prompts/system.md";
    public string SummaryTemplate { get; set; } = "prompts/summary.md";
    public int SummaryMaxCharacters { get; set; } = 6000;

    /// <summary>Steps over which an intervention's effect on the loss is measured.</summary>
    public int EffectWindowSteps { get; set; } = 50;

    public OpenAIProviderOptions OpenAI { get; set; } = new();
    public AzureOpenAIProviderOptions AzureOpenAI { get; set; } = new();
    public ReplayProviderOptions Replay { get; set; } = new();
    public ResilienceOptions Resilience { get; set; } = new();
}

public sealed class OpenAIProviderOptions
{
    /// <summary>Any OpenAI-compatible endpoint (Ollama, vLLM, llama.cpp's server): e.g. http://localhost:11434/v1.</summary>
    public string BaseUrl { get; set; } = "https://api.openai.com/v1";
    public string Model { get; set; } = "gpt-4o-mini";

    /// <summary>Name of the environment variable holding the API key (the key itself is never configured).</summary>
    public string ApiKeyVariable { get; set; } = "OPENAI_API_KEY";
}

public sealed class AzureOpenAIProviderOptions
{
    public string Endpoint { get; set; } = "";
    public string Deployment { get; set; } = "";
    public string ApiKeyVariable { get; set; } = "AZURE_OPENAI_API_KEY";
}

public sealed class ReplayProviderOptions
{
    /// <summary>A decision transcript (decisions.jsonl of an earlier run, or one written by hand).</summary>
    public string Transcript { get; set; } = "";
}

/// <summary>Polly's settings for model calls, as Polly's own options name them (times as "hh:mm:ss").
/// Checked at start-up by building the pipeline, so Polly's own rules apply (see <see cref="AgentOptionsValidator"/>).</summary>
public sealed class ResilienceOptions
{
    /// <summary>A whole decision's model call, retries and waits included.</summary>
    public TimeSpan TotalTimeout { get; set; } = TimeSpan.FromSeconds(60);
    public TimeSpan AttemptTimeout { get; set; } = TimeSpan.FromSeconds(20);
    public int MaxRetries { get; set; } = 3;

    /// <summary>The first retry's delay (doubling, with jitter), unless the server sent Retry-After.</summary>
    public TimeSpan BaseDelay { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Failure ratio over the sampling window that opens the circuit.</summary>
    public double BreakerFailureRatio { get; set; } = 0.5;
    public int BreakerMinimumThroughput { get; set; } = 4;
    public TimeSpan BreakerSamplingDuration { get; set; } = TimeSpan.FromSeconds(120);
    public TimeSpan BreakerBreakDuration { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>What a decision falls back to when the model cannot answer: keep or rules.</summary>
    public string Fallback { get; set; } = AgentProviders.Keep;
}
