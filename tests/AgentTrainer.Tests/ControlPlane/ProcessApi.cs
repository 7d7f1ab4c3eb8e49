using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;

namespace AgentTrainer.Tests.ControlPlane;

/// <summary>Talking to an agent-trainer process's API (a real Kestrel on loopback) from a test.</summary>
public static class ProcessApi
{
    /// <summary>A client with the tests' token, once the process listens and its run is assembled.</summary>
    public static async Task<HttpClient> ConnectAsync(AgentTrainerProcess process)
    {
        var client = new HttpClient { BaseAddress = await process.ApiAddressAsync() };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", AgentTrainerProcess.Token);
        await UntilRunAsync(client, _ => true, "the run to be assembled");
        return client;
    }

    /// <summary>Submits a command and waits until it succeeded.</summary>
    public static async Task CommandAsync(HttpClient api, string json)
    {
        using HttpResponseMessage response = await api.PostAsync("/api/commands", new StringContent(json, System.Text.Encoding.UTF8, "application/json"));
        response.EnsureSuccessStatusCode();
        string id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        await UntilAsync(async () => (await api.GetFromJsonAsync<JsonElement>($"/api/commands/{id}")).GetProperty("status").GetString() == "succeeded", id);
    }

    /// <summary>Waits until /api/run satisfies the condition.</summary>
    public static Task UntilRunAsync(HttpClient api, Func<JsonElement, bool> condition, string what) =>
        UntilAsync(async () =>
        {
            using HttpResponseMessage response = await api.GetAsync("/api/run");
            return response.IsSuccessStatusCode && condition(await response.Content.ReadFromJsonAsync<JsonElement>());
        }, what);

    public static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        DateTime deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            try
            {
                if (await condition())
                {
                    return;
                }
            }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline)
            {
                // not listening yet
            }
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Gave up waiting for {what}.");
            }
            await Task.Delay(50);
        }
    }
}
