using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AgentTrainer.Tests.ControlPlane;
using Xunit;

namespace AgentTrainer.Tests.Service;

/// <summary>How <c>serve</c> tells a run that failed from one that was lost: a child that refused to run says why,
/// in its own words; only a run nobody can account for is lost.</summary>
public sealed class ServiceFailureTests : IDisposable
{
    private readonly string _folder = TestFolders.Create("service-failure");

    public void Dispose() => TestFolders.Delete(_folder);

    [Fact]
    public async Task A_run_refused_at_start_is_failed_with_its_own_words_not_lost()
    {
        string corpus = Path.Combine(_folder, "tiny.txt");
        File.WriteAllText(corpus, "abc");
        string root = Path.Combine(_folder, "runs");
        using var service = new AgentTrainerProcess(["serve", "--root", root, "--urls", "http://127.0.0.1:0"],
            new Dictionary<string, string> { ["AGENTTRAINER_Service__SyncInterval"] = "00:00:00.25" });
        using var api = new HttpClient
        {
            BaseAddress = await service.ApiAddressAsync(),
            DefaultRequestHeaders = { Authorization = new AuthenticationHeaderValue("Bearer", AgentTrainerProcess.Token) },
        };
        using HttpResponseMessage submitted = await api.PostAsJsonAsync("/api/service/runs", new
        {
            name = "tiny-corpus",
            settings = new { Training = new { Task = "char-lm", Steps = 50, Threads = 1, Data = new { TextPath = corpus } } },
        });
        Assert.True(submitted.StatusCode == HttpStatusCode.Accepted, await submitted.Content.ReadAsStringAsync());

        JsonElement run = default;
        await ProcessApi.UntilAsync(async () =>
        {
            run = (await api.GetFromJsonAsync<JsonElement>("/api/service/runs")).EnumerateArray()
                .Single(r => r.GetProperty("name").GetString() == "tiny-corpus");
            return run.GetProperty("state").GetString() is "failed" or "lost" or "completed";
        }, "the run to end", TimeSpan.FromMinutes(2));
        Assert.Equal("failed", run.GetProperty("state").GetString());
        string message = run.GetProperty("message").GetString()!;
        Assert.Contains("exit code 3", message, StringComparison.Ordinal);
        Assert.Contains("holds 3 characters; char-lm with context 64 needs at least", message, StringComparison.Ordinal);
    }
}
