using AgentTrainer.Core.Options;
using AgentTrainer.Agents.Decisions;
using AgentTrainer.Agents.Providers;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Summaries;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Connectors.AzureOpenAI;
using Microsoft.SemanticKernel.Connectors.OpenAI;

namespace AgentTrainer.Agents;

/// <summary>Builds the configured provider's chat service and the agent around it.</summary>
public static class AgentFactory
{
    public static IChatCompletionService CreateModel(AgentOptions options, HttpClient? http = null) => options.Provider switch
    {
        AgentProviders.Rules => new RulesChatCompletionService(),
        AgentProviders.Replay => ReplayChatCompletionService.FromFile(ContentPaths.Resolve(options.Replay.Transcript)),
        AgentProviders.OpenAI => new OpenAIChatCompletionService(
            options.OpenAI.Model, new Uri(options.OpenAI.BaseUrl), ApiKey(options.OpenAI.ApiKeyVariable) ?? "no-key", httpClient: http ?? NewHttpClient()),
        AgentProviders.AzureOpenAI => new AzureOpenAIChatCompletionService(
            options.AzureOpenAI.Deployment, options.AzureOpenAI.Endpoint, ApiKey(options.AzureOpenAI.ApiKeyVariable) ?? "no-key", httpClient: http ?? NewHttpClient()),
        _ => throw new ArgumentException($"Agent provider '{options.Provider}' has no model.", nameof(options)),
    };

    /// <param name="tools">the tools the agent is offered (the policy's <see cref="Policy.OfferedTools"/>)</param>
    public static TrainingAgent CreateAgent(
        AgentOptions options, IReadOnlyList<InterventionAction> tools, TimeProvider time, HttpClient? http = null)
    {
        IChatCompletionService model = CreateModel(options, http);
        var renderer = new SummaryRenderer(
            File.ReadAllText(ContentPaths.Resolve(options.SummaryTemplate)), options.SummaryMaxCharacters);
        string systemPrompt = File.ReadAllText(ContentPaths.Resolve(options.SystemPrompt));
        return new TrainingAgent(
            options.Provider, model, systemPrompt, renderer, options.Resilience, options.MaxTurns, time, tools);
    }

    /// <summary>The name of the model's HttpClient in a host's <c>IHttpClientFactory</c>.</summary>
    public const string ModelHttpClient = "agent-model";

    /// <summary>Polly owns every timeout: the HttpClient's own is off (so it is in the host's factory).</summary>
    public static void ConfigureModelHttpClient(HttpClient client) => client.Timeout = Timeout.InfiniteTimeSpan;

    /// <summary>For code without a host (tests, the bench); a host hands its factory's client instead.</summary>
    public static HttpClient NewHttpClient()
    {
        var client = new HttpClient();
        ConfigureModelHttpClient(client);
        return client;
    }

    private static string? ApiKey(string variable) => string.IsNullOrEmpty(variable) ? null : Environment.GetEnvironmentVariable(variable);
}

/// <summary>Prompts, policies and transcripts are named relative to the working folder; the built
/// command also carries the repository's prompts/ and policies/ beside itself.</summary>
public static class ContentPaths
{
    public static string Resolve(string path)
    {
        if (Path.IsPathRooted(path) || File.Exists(path))
        {
            return path;
        }
        string beside = Path.Combine(AppContext.BaseDirectory, path);
        return File.Exists(beside) ? beside : path;
    }
}
