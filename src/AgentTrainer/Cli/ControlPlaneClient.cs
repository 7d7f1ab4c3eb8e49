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

    public static ControlPlaneClient Create(string url, string? token)
    {
        token ??= Environment.GetEnvironmentVariable("AGENTTRAINER_TOKEN");
        if (string.IsNullOrWhiteSpace(token))
        {
            string file = new ControlPlaneOptions().ResolvedTokenFile();
            token = File.Exists(file)
                ? ApiToken.Read(file)
                : throw new ControlPlaneClientException($"no API token: pass --token, set AGENTTRAINER_TOKEN, or start a run once so {file} exists.");
        }
        var http = new HttpClient { BaseAddress = new Uri(url), Timeout = TimeSpan.FromSeconds(30) };
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token.Trim());
        return new ControlPlaneClient(http);
    }

    public Task<ReviewItem[]> Reviews(string? status) =>
        Send<ReviewItem[]>(HttpMethod.Get, "/api/reviews" + (status is null ? "" : "?status=" + Uri.EscapeDataString(status)), null);

    public Task<ReviewItem> Decide(string proposalId, bool approve, string reviewer, string? comment) =>
        Send<ReviewItem>(HttpMethod.Post, $"/api/reviews/{Uri.EscapeDataString(proposalId)}/{(approve ? "approve" : "reject")}", new ReviewDecision(reviewer, comment));

    public Task<CommandView> Submit(TrainerCommand command) => Send<CommandView>(HttpMethod.Post, "/api/commands?source=human", command);

    /// <summary>Polls the command until the trainer has applied it (or failed it), up to <paramref name="timeout"/>.</summary>
    public async Task<CommandView> WaitFor(string id, TimeSpan timeout)
    {
        DateTime deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            CommandView view = await Send<CommandView>(HttpMethod.Get, $"/api/commands/{Uri.EscapeDataString(id)}", null).ConfigureAwait(false);
            if (view.Status is CommandStatus.Succeeded or CommandStatus.Failed || DateTime.UtcNow > deadline)
            {
                return view;
            }
            await Task.Delay(100).ConfigureAwait(false);
        }
    }

    private async Task<T> Send<T>(HttpMethod method, string path, object? body)
    {
        using var request = new HttpRequestMessage(method, path);
        if (body is not null)
        {
            request.Content = JsonContent.Create(body, body is TrainerCommand ? typeof(TrainerCommand) : body.GetType(), options: ApiJson.Options);
        }
        HttpResponseMessage response;
        try
        {
            response = await _http.SendAsync(request).ConfigureAwait(false);
        }
        catch (HttpRequestException error)
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
            // Lenient on what comes back (fields left out when null); the API is strict on what goes in.
            return (await response.Content.ReadFromJsonAsync<T>(RunJson.Options).ConfigureAwait(false))!;
        }
    }

    public void Dispose() => _http.Dispose();
}

public sealed class ControlPlaneClientException(string message) : Exception(message);
