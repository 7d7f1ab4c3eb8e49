using System.CommandLine;
using System.Net.Sockets;
using System.Text;

namespace AgentTrainer.App.Bench;

/// <summary><c>agent-trainer bench stream-clients</c> (hidden; the stream benchmark's other process):
/// on "connect" opens N live-stream connections, on "disconnect" closes them and prints how many
/// messages they read; exits at the end of its input. Each client is as light as curl: a socket that
/// reads everything and counts messages, so the figure is the stream's cost, not a heavy client's.</summary>
public static class StreamClientsProcess
{
    public const string CommandName = "stream-clients";
    public const string Connect = "connect";
    public const string Disconnect = "disconnect";

    public static Command Create()
    {
        var url = new Option<string>("--url") { Required = true };
        var clients = new Option<int>("--clients") { DefaultValueFactory = _ => 10 };
        var command = new Command(CommandName, "Live-stream clients for the stream benchmark.") { url, clients };
        command.Hidden = true;
        command.SetAction(async (parse, cancellation) =>
        {
            var address = new Uri(parse.GetValue(url)!);
            CancellationTokenSource? connected = null;
            Task<long>[] readers = [];
            while (await Console.In.ReadLineAsync(cancellation).ConfigureAwait(false) is { } line)
            {
                if (line == Connect)
                {
                    connected = new CancellationTokenSource();
                    CancellationToken token = connected.Token;
                    readers = [.. Enumerable.Range(0, parse.GetValue(clients)).Select(_ => Read(address, token))];
                }
                else if (line == Disconnect && connected is not null)
                {
                    await connected.CancelAsync().ConfigureAwait(false);
                    long[] counts = await Task.WhenAll(readers).ConfigureAwait(false);
                    connected.Dispose();
                    connected = null;
                    Console.WriteLine(counts.Sum());
                }
            }
            return 0;
        });
        return command;
    }

    private static async Task<long> Read(Uri address, CancellationToken cancellation)
    {
        byte[] marker = "\ndata: "u8.ToArray();
        long messages = 0;
        try
        {
            using var socket = new TcpClient();
            await socket.ConnectAsync(address.Host, address.Port, cancellation).ConfigureAwait(false);
            NetworkStream stream = socket.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes($"GET /api/stream HTTP/1.1\r\nHost: {address.Authority}\r\nAccept: text/event-stream\r\n\r\n"), cancellation).ConfigureAwait(false);
            byte[] buffer = new byte[64 * 1024];
            int read;
            while ((read = await stream.ReadAsync(buffer, cancellation).ConfigureAwait(false)) > 0)
            {
                // Messages are written whole and flushed in batches: a marker is not split across reads in practice.
                ReadOnlySpan<byte> chunk = buffer.AsSpan(0, read);
                for (int at = chunk.IndexOf(marker); at >= 0; at = chunk.IndexOf(marker))
                {
                    messages++;
                    chunk = chunk[(at + marker.Length)..];
                }
            }
        }
        catch (OperationCanceledException)
        {
            // disconnected on purpose
        }
        return messages;
    }
}
