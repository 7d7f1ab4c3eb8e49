using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AgentTrainer.Agents.Storage;
using AgentTrainer.ControlPlane;
using AgentTrainer.ControlPlane.Api;
using AgentTrainer.ControlPlane.Live;
using AgentTrainer.ControlPlane.Security;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Records;

namespace AgentTrainer.App.Cli;

/// <summary>The command line's way to a running host: the REST API with the bearer token (from
/// --token, AGENTTRAINER_TOKEN, or the token file the host generated).</summary>
public sealed class ControlPlaneClient : IDisposable
{
    private readonly HttpClient _http;

    private ControlPlaneClient(HttpClient http) => _http = http;

    /// <param name="tokenRequired">false for reading, which needs no token on loopback: one is sent if known</param>
    public static ControlPlaneClient Create(string url, string? token, bool tokenRequired = true)
    {
        token ??= Environment.GetEnvironmentVariable("AGENTTRAINER_TOKEN");
        if (string.IsNullOrWhiteSpace(token))
        {
            string file = new ControlPlaneOptions().ResolvedTokenFile();
            token = File.Exists(file) ? ApiToken.Read(file)
                : tokenRequired ? throw new ControlPlaneClientException($"no API token: pass --token, set AGENTTRAINER_TOKEN, or start a run once so {file} exists.")
                : null;
        }
        var http = new HttpClient { BaseAddress = new Uri(url), Timeout = Timeout.InfiniteTimeSpan };
        if (token is not null)
        {
            http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token.Trim());
        }
        return new ControlPlaneClient(http);
    }

    /// <summary>Follows the live stream until it ends or is cancelled, handing over each message's type and JSON.</summary>
    public async Task Follow(Action<string, JsonElement> message, CancellationToken cancellation)
    {
        HttpResponseMessage response;
        try
        {
            response = await _http.GetAsync("/api/stream", HttpCompletionOption.ResponseHeadersRead, cancellation).ConfigureAwait(false);
        }
        catch (HttpRequestException error)
        {
            throw new ControlPlaneClientException($"no host answers at {_http.BaseAddress} ({error.Message}); is a run going? (--url)");
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                throw new ControlPlaneClientException($"{(int)response.StatusCode} {response.ReasonPhrase}: the stream was refused.");
            }
            using var reader = new StreamReader(await response.Content.ReadAsStreamAsync(cancellation).ConfigureAwait(false));
            string type = "message";
            while (await reader.ReadLineAsync(cancellation).ConfigureAwait(false) is { } line)
            {
                if (line.StartsWith("event: ", StringComparison.Ordinal))
                {
                    type = line["event: ".Length..];
                }
                else if (line.StartsWith("data: ", StringComparison.Ordinal))
                {
                    using JsonDocument data = JsonDocument.Parse(line["data: ".Length..]);
                    message(type, data.RootElement);
                }
            }
        }
    }

    public Task<ReviewItem[]> Reviews(string? status) =>
        Send<ReviewItem[]>(HttpMethod.Get, "/api/reviews" + (status is null ? "" : "?status=" + Uri.EscapeDataString(status)), null);

    public Task<ReviewItem> Decide(string proposalId, bool approve, string reviewer, string? comment) =>
        Send<ReviewItem>(HttpMethod.Post, $"/api/reviews/{Uri.EscapeDataString(proposalId)}/{(approve ? "approve" : "reject")}", new ReviewDecision(reviewer, comment));

    public Task<CommandView> Submit(TrainerCommand command) => Send<CommandView>(HttpMethod.Post, "/api/commands?source=human", command);

    /// <summary>Polls the command until the trainer has applied, failed or cancelled it, up to <paramref name="timeout"/>.</summary>
    public async Task<CommandView> WaitFor(string id, TimeSpan timeout)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            CommandView view = await Send<CommandView>(HttpMethod.Get, $"/api/commands/{Uri.EscapeDataString(id)}", null).ConfigureAwait(false);
            if (view.Status.IsFinal() || DateTime.UtcNow > deadline)
            {
                return view;
            }
            await Task.Delay(100).ConfigureAwait(false);
        }
    }

    public Task<T> Get<T>(string path) => Send<T>(HttpMethod.Get, path, null);

    public Task<T> Post<T>(string path, object? body) => Send<T>(HttpMethod.Post, path, body);

    private async Task<T> Send<T>(HttpMethod method, string path, object? body)
    {
        using var request = new HttpRequestMessage(method, path);
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body is TrainerCommand ? typeof(TrainerCommand) : body.GetType(), options: ApiJson.Options);
        }
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request, timeout.Token).ConfigureAwait(false);
        }
        catch (Exception error) when (error is HttpRequestException or TaskCanceledException)
        {
            throw new ControlPlaneClientException($"no host answers at {_http.BaseAddress} ({error.Message}); is a run going? (--url)");
        }
        using (response)
        {
            if (!response.IsSuccessStatusCode)
            {
                string detail = await response.Content.ReadAsStringAsync().ConfigureAwait(false);
                try
                {
                    using JsonDocument problem = JsonDocument.Parse(detail);
                    detail = problem.RootElement.TryGetProperty("detail", out JsonElement text) ? text.GetString()! : problem.RootElement.GetProperty("title").GetString()!;
                }
                catch (JsonException)
                {
                    // not a problem document: show what came back
                }
                throw new ControlPlaneClientException($"{(int)response.StatusCode} {response.ReasonPhrase}: {detail}");
            }
            if (typeof(T) == typeof(string))
            {
                return (T)(object)await response.Content.ReadAsStringAsync().ConfigureAwait(false);
            }
            if (typeof(T) == typeof(byte[]))
            {
                return (T)(object)await response.Content.ReadAsByteArrayAsync().ConfigureAwait(false);
            }
            // Lenient on what comes back (fields left out when null); the API is strict on what goes in.
            return (await response.Content.ReadFromJsonAsync<T>(RunJson.Options).ConfigureAwait(false))!;
        }
    }

    public void Dispose() => _http.Dispose();
}

public sealed class ControlPlaneClientException(string message) : Exception(message);
