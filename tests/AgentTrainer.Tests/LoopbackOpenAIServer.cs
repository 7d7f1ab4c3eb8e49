using System.Collections.Concurrent;
using System.Text.Json.Nodes;
using AgentTrainer.App.Bench;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;

namespace AgentTrainer.Tests;

/// <summary>A real HTTP server on loopback speaking the OpenAI chat-completions wire format, whose
/// answers are scripted per request to inject faults (429, 500, hangs, malformed JSON, bad calls).</summary>
public sealed class LoopbackOpenAIServer : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly ConcurrentQueue<Func<HttpContext, Task>> _script = new();

    private LoopbackOpenAIServer(WebApplication app)
    {
        _app = app;
    }

    public required Uri BaseUrl { get; init; }
    public ConcurrentQueue<JsonNode> Requests { get; } = new();

    /// <summary>What to answer when the script has run out.</summary>
    public Func<HttpContext, Task> Otherwise { get; set; } = context => ToolCall("keep_learning_rate", """{"reason":"default"}""")(context);

    public static async Task<LoopbackOpenAIServer> StartAsync()
    {
        LoopbackOpenAIServer? server = null;
        (WebApplication app, Uri address) = await LoopbackHttpServer.StartAsync(routes => routes.MapPost("/v1/chat/completions", async context =>
        {
            server!.Requests.Enqueue((await JsonNode.ParseAsync(context.Request.Body))!);
            Func<HttpContext, Task> answer = server._script.TryDequeue(out Func<HttpContext, Task>? next) ? next : server.Otherwise;
            await answer(context);
        }));
        server = new LoopbackOpenAIServer(app) { BaseUrl = new Uri(address, "v1") };
        return server;
    }

    public void Then(params Func<HttpContext, Task>[] answers)
    {
        foreach (Func<HttpContext, Task> answer in answers)
        {
            _script.Enqueue(answer);
        }
    }

    public static Func<HttpContext, Task> Status(int status, string? retryAfter = null) => async context =>
    {
        context.Response.StatusCode = status;
        if (retryAfter is not null)
        {
            context.Response.Headers.RetryAfter = retryAfter;
        }
        await context.Response.WriteAsJsonAsync(new { error = new { message = $"status {status}", type = "test" } });
    };

    public static Func<HttpContext, Task> Hang() => async context =>
    {
        await Task.Delay(Timeout.Infinite, context.RequestAborted).ContinueWith(_ => { }, TaskScheduler.Default);
    };

    public static Func<HttpContext, Task> Raw(string body) => async context =>
    {
        context.Response.ContentType = "application/json";
        await context.Response.WriteAsync(body);
    };

    public static Func<HttpContext, Task> ToolCall(string tool, string arguments) =>
        Raw(Completion(new JsonObject
        {
            ["role"] = "assistant",
            ["content"] = null,
            ["tool_calls"] = new JsonArray(new JsonObject
            {
                ["id"] = "call_1",
                ["type"] = "function",
                ["function"] = new JsonObject { ["name"] = "training-" + tool, ["arguments"] = arguments },
            }),
        }, "tool_calls"));

    public static Func<HttpContext, Task> Text(string content) =>
        Raw(Completion(new JsonObject { ["role"] = "assistant", ["content"] = content }, "stop"));

    private static string Completion(JsonObject message, string finish) => new JsonObject
    {
        ["id"] = "chatcmpl-test",
        ["object"] = "chat.completion",
        ["created"] = 1_700_000_000,
        ["model"] = "loopback",
        ["choices"] = new JsonArray(new JsonObject { ["index"] = 0, ["message"] = message, ["finish_reason"] = finish }),
        ["usage"] = new JsonObject { ["prompt_tokens"] = 321, ["completion_tokens"] = 17, ["total_tokens"] = 338 },
    }.ToJsonString();

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }
}
