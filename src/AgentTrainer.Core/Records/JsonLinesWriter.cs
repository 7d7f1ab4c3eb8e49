using System.Text.Json;
using System.Threading.Channels;

namespace AgentTrainer.Core.Records;

/// <summary>Appends JSON lines on a background task, so a slow disk never stalls training. Each
/// burst is flushed as soon as the queue drains, so a killed process loses at most the last lines; a writer
/// given a <c>batchInterval</c> then waits that long before the next burst (one wake-up and one write per
/// interval, not per line: a line per training step of a few milliseconds costs the trainer nothing).
/// A write that fails (a full disk) stops the writer: <see cref="Failure"/> says why, <see cref="Failed"/>
/// is cancelled, and later lines are dropped rather than queued without end.</summary>
public sealed class JsonLinesWriter : IAsyncDisposable, IDisposable
{
    private readonly Channel<(object Line, Type Type)> _lines = Channel.CreateUnbounded<(object Line, Type Type)>(new UnboundedChannelOptions { SingleReader = true });
    private readonly StreamWriter _writer;
    private readonly Task _pump;
    private readonly CancellationTokenSource _failed = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly TimeSpan _batchInterval;

    /// <param name="batchInterval">the least time between two bursts (zero: write each as it comes)</param>
    public JsonLinesWriter(string path, TimeSpan batchInterval = default)
    {
        _batchInterval = batchInterval;
        Directory.CreateDirectory(System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(path))!);
        DropTornLastLine(path);
        Path = path;
        _writer = new StreamWriter(new FileStream(path, FileMode.Append, FileAccess.Write, FileShare.Read));
        _pump = Task.Run(PumpAsync);
    }

    public string Path { get; }

    /// <summary>Why the writer stopped (null while it writes).</summary>
    public Exception? Failure { get; private set; }

    /// <summary>Cancelled when a write fails.</summary>
    public CancellationToken Failed => _failed.Token;

    /// <summary>A process killed mid-write leaves half a line; appending after it would spoil the next one too.</summary>
    private static void DropTornLastLine(string path)
    {
        if (!File.Exists(path))
        {
            return;
        }
        using var file = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read);
        long end = file.Length;
        while (end > 0)
        {
            file.Position = end - 1;
            if (file.ReadByte() == '\n')
            {
                break;
            }
            end--;
        }
        if (end < file.Length)
        {
            file.SetLength(end);
        }
    }

    /// <summary>Queues a line, serialised as <typeparamref name="T"/> (a base type writes its discriminator).</summary>
    private int _disposed;

    public void Write<T>(T line) where T : notnull => _lines.Writer.TryWrite((line, typeof(T)));

    private async Task PumpAsync()
    {
        try
        {
            while (await _lines.Reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (_lines.Reader.TryRead(out (object Line, Type Type) entry))
                {
                    await _writer.WriteLineAsync(JsonSerializer.Serialize(entry.Line, entry.Type, RunJson.Options)).ConfigureAwait(false);
                }
                await _writer.FlushAsync().ConfigureAwait(false);
                await BetweenBurstsAsync().ConfigureAwait(false);
            }
        }
        catch (IOException error)
        {
            Failure = error;
            _lines.Writer.TryComplete();
            await _failed.CancelAsync().ConfigureAwait(false);
        }
    }

    private async Task BetweenBurstsAsync()
    {
        if (_batchInterval <= TimeSpan.Zero)
        {
            return;
        }
        try
        {
            await Task.Delay(_batchInterval, _closing.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // closing: drain what is left at once
        }
    }

    /// <summary>Drains and closes the file; later calls do nothing.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1)
        {
            return;
        }
        _lines.Writer.TryComplete();
        await _closing.CancelAsync().ConfigureAwait(false); // no more waiting between bursts: drain now
        await _pump.ConfigureAwait(false);
        try
        {
            await _writer.DisposeAsync().ConfigureAwait(false);
        }
        catch (IOException) when (Failure is not null)
        {
            // what the buffer still held cannot reach the disk that already failed
        }
        _failed.Dispose();
        _closing.Dispose();
    }

    public void Dispose() => DisposeAsync().AsTask().GetAwaiter().GetResult();
}
