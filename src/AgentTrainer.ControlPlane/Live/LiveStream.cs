using System.Collections.Concurrent;
using System.Net.ServerSentEvents;
using System.Text.Json;
using System.Threading.Channels;
using AgentTrainer.ControlPlane.Api;
using Microsoft.Extensions.Options;

namespace AgentTrainer.ControlPlane.Live;

/// <summary>Fans run messages out to live clients (Server-Sent Events). The training thread only
/// hands a message over (no serialisation, no I/O, nothing per client); a pump gathers messages for
/// StreamFlushMilliseconds, serialises each once and offers the batch to every client's bounded
/// queue, so clients wake once per batch rather than once per step. A client that falls behind gets
/// every tenth step once its queue is half full, and is dropped when it is full: it can never slow training.</summary>
public sealed class LiveStream : IAsyncDisposable
{
    /// <summary>Once a client's queue is this full, step messages are sampled (events never are).</summary>
    private const double SampleAbove = 0.5;
    private const int SampleEvery = 10;

    private readonly Channel<(string Type, object Payload, Type PayloadType)> _incoming =
        Channel.CreateUnbounded<(string, object, Type)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly ConcurrentDictionary<long, StreamClient> _clients = new();
    private readonly int _clientBuffer;
    private readonly TimeSpan _gather;
    private readonly Task _pump;
    private long _nextClient;
    private long _sequence;
    private long _droppedClients;
    private long _sampledOut;

    public LiveStream(IOptions<ControlPlaneOptions> options)
    {
        _clientBuffer = options.Value.StreamClientBuffer;
        _gather = TimeSpan.FromMilliseconds(options.Value.StreamFlushMilliseconds);
        _pump = Task.Run(PumpAsync);
    }

    public int Clients => _clients.Count;
    public long DroppedClients => Interlocked.Read(ref _droppedClients);
    public long SampledOutMessages => Interlocked.Read(ref _sampledOut);

    /// <summary>Queues a message for the clients; free when nobody listens. Never blocks.</summary>
    public void Publish<T>(string type, T payload) where T : notnull
    {
        if (!_clients.IsEmpty)
        {
            _incoming.Writer.TryWrite((type, payload, typeof(T))); // typeof(T): a base type writes its discriminator
        }
    }

    public StreamClient Subscribe()
    {
        var client = new StreamClient(Interlocked.Increment(ref _nextClient), _clientBuffer);
        _clients[client.Id] = client;
        return client;
    }

    public void Unsubscribe(StreamClient client)
    {
        _clients.TryRemove(client.Id, out _);
        client.Close();
    }

    private async Task PumpAsync()
    {
        while (await _incoming.Reader.WaitToReadAsync().ConfigureAwait(false))
        {
            if (_gather > TimeSpan.Zero)
            {
                await Task.Delay(_gather).ConfigureAwait(false); // let a batch gather: one wake-up per interval, not per step
            }
            while (_incoming.Reader.TryRead(out (string Type, object Payload, Type PayloadType) message))
            {
                Deliver(message.Type, message.Payload, message.PayloadType);
            }
        }
    }

    private void Deliver(string type, object payload, Type payloadType)
    {
        long sequence = ++_sequence;
        var item = new SseItem<string>(JsonSerializer.Serialize(payload, payloadType, ApiJson.Options), type)
        {
            EventId = sequence.ToString(System.Globalization.CultureInfo.InvariantCulture),
        };
        bool sampleable = type == StreamTypes.Step;
        foreach (StreamClient client in _clients.Values)
        {
            switch (client.Offer(item, sampleable, sequence))
            {
                case OfferResult.SampledOut:
                    Interlocked.Increment(ref _sampledOut);
                    break;
                case OfferResult.Dropped:
                    Interlocked.Increment(ref _droppedClients);
                    _clients.TryRemove(client.Id, out _);
                    break;
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        _incoming.Writer.TryComplete();
        await _pump.ConfigureAwait(false);
        foreach (StreamClient client in _clients.Values)
        {
            client.Close();
        }
    }

    /// <summary>One connected client: a bounded queue the response drains.</summary>
    public sealed class StreamClient
    {
        private readonly Channel<SseItem<string>> _queue;
        private readonly int _capacity;

        internal StreamClient(long id, int capacity)
        {
            Id = id;
            _capacity = capacity;
            _queue = Channel.CreateBounded<SseItem<string>>(new BoundedChannelOptions(capacity) { SingleReader = true, SingleWriter = true });
        }

        public long Id { get; }

        /// <summary>Set when the client fell too far behind and was cut off.</summary>
        public bool Dropped { get; private set; }

        public ChannelReader<SseItem<string>> Messages => _queue.Reader;

        internal OfferResult Offer(SseItem<string> item, bool sampleable, long sequence)
        {
            if (sampleable && _queue.Reader.Count > _capacity * SampleAbove && sequence % SampleEvery != 0)
            {
                return OfferResult.SampledOut;
            }
            if (_queue.Writer.TryWrite(item))
            {
                return OfferResult.Queued;
            }
            Dropped = true;
            _queue.Writer.TryComplete();
            return OfferResult.Dropped;
        }

        internal void Close() => _queue.Writer.TryComplete();
    }

    internal enum OfferResult
    {
        Queued,
        SampledOut,
        Dropped,
    }
}

/// <summary>The stream's message types (the SSE event names).</summary>
public static class StreamTypes
{
    public const string Step = "step";
    public const string Evaluation = "eval";
    public const string Event = "event";
}
