using AgentTrainer.Agents.Resilience;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Policies;
using Microsoft.Extensions.Options;

namespace AgentTrainer.Agents;

/// <summary>Checks the agent's settings at start-up, loading the policy (its errors name file, line
/// and rule) and the prompt files, so a bad setting stops the run before training starts.</summary>
public sealed class AgentOptionsValidator : IValidateOptions<AgentOptions>
{
    public ValidateOptionsResult Validate(string? name, AgentOptions options)
    {
        var errors = new List<string>();
        if (!AgentProviders.All.Contains(options.Provider))
        {
            errors.Add($"--agent (Agent:Provider): '{options.Provider}' is not one of {string.Join(", ", AgentProviders.All)}.");
        }
        if (options.DecideEvery < 1)
        {
            errors.Add($"--decide-every (Agent:DecideEvery) must be at least 1; got {options.DecideEvery}.");
        }
        if (options.MaxTurns < 1)
        {
            errors.Add($"--max-turns (Agent:MaxTurns) must be at least 1; got {options.MaxTurns}.");
        }
        if (!AgentProviders.Fallbacks.Contains(options.Resilience.Fallback))
        {
            errors.Add($"--fallback (Agent:Resilience:Fallback): '{options.Resilience.Fallback}' is not one of {string.Join(", ", AgentProviders.Fallbacks)}.");
        }
        if (options.Resilience.MaxRetries < 0)
        {
            errors.Add($"Agent:Resilience:MaxRetries must be at least 0; got {options.Resilience.MaxRetries}.");
        }
        else if (ModelCallPipeline.Problems(options.Resilience) is { } problems)
        {
            errors.Add($"Agent:Resilience: {problems}");
        }
        if (options.Provider == AgentProviders.None)
        {
            return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
        }
        try
        {
            PolicyLoader.Load(ContentPaths.Resolve(options.Policy));
        }
        catch (PolicyException error)
        {
            errors.Add($"--policy (Agent:Policy): {error.Message}");
        }
        foreach ((string option, string key, string path) in new[]
        {
            ("--system-prompt", "Agent:SystemPrompt", options.SystemPrompt),
            ("--summary-template", "Agent:SummaryTemplate", options.SummaryTemplate),
        })
        {
            if (!File.Exists(ContentPaths.Resolve(path)))
            {
                errors.Add($"{option} ({key}): {path} does not exist.");
            }
        }
        if (options.Provider == AgentProviders.Replay && !File.Exists(ContentPaths.Resolve(options.Replay.Transcript)))
        {
            errors.Add($"--replay (Agent:Replay:Transcript): '{options.Replay.Transcript}' does not exist.");
        }
        if (options.Provider == AgentProviders.OpenAI && !Uri.TryCreate(options.OpenAI.BaseUrl, UriKind.Absolute, out _))
        {
            errors.Add($"--base-url (Agent:OpenAI:BaseUrl): '{options.OpenAI.BaseUrl}' is not an absolute URL.");
        }
        if (options.Provider == AgentProviders.AzureOpenAI && (options.AzureOpenAI.Endpoint.Length == 0 || options.AzureOpenAI.Deployment.Length == 0))
        {
            errors.Add("Agent:AzureOpenAI: Endpoint and Deployment are required for --agent azure-openai.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
