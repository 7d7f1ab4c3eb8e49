using AgentTrainer.ControlPlane;
using AgentTrainer.ControlPlane.Live;
using Microsoft.Extensions.Options;
using Xunit;

namespace AgentTrainer.Tests.ControlPlane;

/// <summary>The live stream's back-pressure rule: a client that falls behind is sampled, then dropped;
/// a client that keeps up gets everything; publishing never waits for either.</summary>
public sealed class LiveStreamTests
{
    [Fact]
    public async Task A_client_that_stops_reading_is_sampled_then_dropped_while_a_reading_client_gets_every_message()
    {
        await using var stream = new LiveStream(Options.Create(new ControlPlaneOptions { StreamClientBuffer = 32, StreamFlushMilliseconds = 0 }));
        LiveStream.StreamClient stalled = stream.Subscribe();
        LiveStream.StreamClient reading = stream.Subscribe();
        const int Messages = 300;
        for (int i = 0; i < Messages; i++)
        {
            stream.Publish(StreamTypes.Step, new StepPoint(i, 0, 1.0, 1e-3, 0.5, null));
            var received = await reading.Messages.ReadAsync(); // keeps up: takes each message as it comes
            Assert.Contains($"\"step\":{i},", received.Data);
        }
        stream.Publish(StreamTypes.Event, "after the drop");
        Assert.Equal("after the drop", (await reading.Messages.ReadAsync()).Data.Trim('"'));

        Assert.True(stalled.Dropped);
        Assert.False(reading.Dropped);
        Assert.Equal(1, stream.DroppedClients);
        Assert.Equal(1, stream.Clients);
        Assert.True(stream.SampledOutMessages > 0, "the stalled client was sampled before it was dropped");
        int queued = 0;
        while (stalled.Messages.TryRead(out _))
        {
            queued++;
        }
        Assert.Equal(32, queued); // it kept a full queue, then its stream ended
        Assert.True(stalled.Messages.Completion.IsCompleted);
    }

    [Fact]
    public async Task Publishing_with_nobody_listening_costs_nothing_and_sends_nothing()
    {
        await using var stream = new LiveStream(Options.Create(new ControlPlaneOptions { StreamFlushMilliseconds = 0 }));
        stream.Publish(StreamTypes.Step, new StepPoint(0, 0, 1, 1, 1, null));
        LiveStream.StreamClient late = stream.Subscribe();
        stream.Publish(StreamTypes.Step, new StepPoint(1, 0, 1, 1, 1, null));
        Assert.Contains("\"step\":1,", (await late.Messages.ReadAsync()).Data); // it sees what came after it joined, not before
    }
}
