using System.Net.ServerSentEvents;
using AgentTrainer.ControlPlane.Live;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;

namespace AgentTrainer.ControlPlane.Api;

/// <summary>The live stream, as Server-Sent Events: <c>step</c>, <c>eval</c> and <c>event</c> messages.
/// A client that cannot keep up is sampled, then dropped; it reconnects and reloads history.</summary>
public static class StreamApi
{
    public static void Map(RouteGroupBuilder api) =>
        api.MapGet("/stream", Follow)
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .WithSummary("Live step metrics, evaluations and run events (command status changes, proposals, decisions, reviews).");

    private static async Task Follow(HttpContext context, LiveStream stream)
    {
        LiveStream.StreamClient client = stream.Subscribe();
        try
        {
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            await context.Response.Body.FlushAsync(context.RequestAborted).ConfigureAwait(false); // headers now: the client is connected
            // Each message is written and flushed as it comes, so a client sees it at once.
            await SseFormatter.WriteAsync(client.Messages.ReadAllAsync(context.RequestAborted), context.Response.Body, context.RequestAborted).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // the client went away
        }
        finally
        {
            stream.Unsubscribe(client);
        }
    }
}
