using System.Buffers;
using System.IO.Pipelines;
using System.Net.ServerSentEvents;
using System.Text;
using AgentTrainer.ControlPlane.Live;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.AspNetCore.Routing;

namespace AgentTrainer.ControlPlane.Api;

/// <summary>The live stream, as Server-Sent Events: <c>step</c>, <c>eval</c> and <c>event</c> messages.
/// Messages come in batches (every StreamFlushMilliseconds). A client that cannot keep up is
/// sampled, then dropped; it reconnects and reloads history.</summary>
public static class StreamApi
{
    public static void Map(RouteGroupBuilder api) =>
        api.MapGet("/stream", Follow)
            .Produces(StatusCodes.Status200OK, contentType: "text/event-stream")
            .WithSummary("Live step metrics, evaluations and run events (command status changes, proposals, decisions, reviews).");

    private static async Task Follow(HttpContext context, LiveStream stream)
    {
        CancellationToken gone = context.RequestAborted;
        LiveStream.StreamClient client = stream.Subscribe();
        try
        {
            context.Features.Get<IHttpResponseBodyFeature>()?.DisableBuffering();
            context.Response.ContentType = "text/event-stream";
            context.Response.Headers.CacheControl = "no-cache";
            await context.Response.BodyWriter.FlushAsync(gone).ConfigureAwait(false); // headers now: the client is connected
            PipeWriter body = context.Response.BodyWriter;
            while (await client.Messages.WaitToReadAsync(gone).ConfigureAwait(false))
            {
                // The stream delivers in batches; a batch goes out in one write (one wake-up for this
                // client and its reader per batch, not per step).
                while (client.Messages.TryRead(out SseItem<string> item))
                {
                    Write(body, item);
                }
                await body.FlushAsync(gone).ConfigureAwait(false);
            }
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

    /// <summary>One SSE message; the data is single-line JSON, so one data field carries it.</summary>
    private static void Write(PipeWriter body, SseItem<string> item) =>
        body.Write(Encoding.UTF8.GetBytes($"event: {item.EventType}\nid: {item.EventId}\ndata: {item.Data}\n\n"));
}
