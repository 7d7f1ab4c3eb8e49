namespace AgentTrainer.Core.Options;

/// <summary>Who decides in a run (Agent:Provider), and what a decision falls back to.</summary>
public static class AgentProviders
{
    public const string None = "none";
    public const string Rules = "rules";
    public const string OpenAI = "openai";
    public const string AzureOpenAI = "azure-openai";
    public const string Replay = "replay";
    public const string Keep = "keep";
    public static readonly string[] All = [None, Rules, OpenAI, AzureOpenAI, Replay];
    public static readonly string[] Fallbacks = [Keep, Rules];
}
