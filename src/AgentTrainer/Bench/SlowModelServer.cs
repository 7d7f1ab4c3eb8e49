using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace AgentTrainer.App.Bench;

/// <summary>A model on loopback that speaks the OpenAI chat-completions format and answers every
/// request after a fixed delay with a keep tool call: the "slow model" of the agent benchmark.</summary>
public sealed class SlowModelServer : IAsyncDisposable
{
    private const string Answer = """
        {"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"slow",
         "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":null,
           "tool_calls":[{"id":"call_1","type":"function","function":{"name":"training-keep_learning_rate","arguments":"{\"reason\":\"benchmark\"}"}}]}}],
         "usage":{"prompt_tokens":900,"completion_tokens":20,"total_tokens":920}}
        """;

    private readonly WebApplication _app;

    private SlowModelServer(WebApplication app, Uri baseUrl)
    {
        _app = app;
        BaseUrl = baseUrl;
    }

    public Uri BaseUrl { get; }

    public static async Task<SlowModelServer> StartAsync(TimeSpan delay)
    {
        (WebApplication app, Uri address) = await LoopbackHttpServer.StartAsync(routes => routes.MapPost("/v1/chat/completions", async context =>
        {
            await Task.Delay(delay, context.RequestAborted).ConfigureAwait(false);
            context.Response.ContentType = "application/json";
            await context.Response.WriteAsync(Answer).ConfigureAwait(false);
        })).ConfigureAwait(false);
        return new SlowModelServer(app, new Uri(address, "v1"));
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
    }
}
