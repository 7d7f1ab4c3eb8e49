using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AgentTrainer.ControlPlane.Live;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Xunit;

namespace AgentTrainer.Tests.ControlPlane;

/// <summary>The API against a hostile page and careless hands: a foreign Host header (DNS rebinding),
/// bodies that are not UTF-8 or too large without a token, a deleted or broken agent.db. Every refusal is
/// a problem that says why; every unexpected failure is logged with the correlation id the caller got.</summary>
public sealed class HardeningTests : IDisposable
{
    private readonly ListLogger _log = new();
    private readonly ControlPlaneFactory _factory;

    public HardeningTests()
    {
        _factory = new ControlPlaneFactory(new() { ["Training:StartPaused"] = "true" }, web => web.Logging.AddProvider(_log));
    }

    public void Dispose() => _factory.Dispose();

    [Theory]
    [InlineData("/api/audit")]
    [InlineData("/api/run")]
    [InlineData("/")]
    public async Task A_request_naming_another_host_is_refused_before_it_reads_anything(string path)
    {
        _ = _factory.Run;
        using HttpClient client = _factory.CreateAuthorizedClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, path);
        request.Headers.Host = "evil.example:7007"; // a page on evil.example whose name now resolves to 127.0.0.1
        using HttpResponseMessage response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.DoesNotContain("step", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);

        using HttpResponseMessage allowed = await client.GetAsync(path); // the same request under the loopback name
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
    }

    [Theory]
    [InlineData("GET", "/api/run")]
    [InlineData("GET", "/api/checkpoints")]
    [InlineData("GET", "/api/reviews")]
    [InlineData("GET", "/api/audit")]
    [InlineData("POST", "/api/commands")]
    public async Task Before_the_run_is_assembled_its_endpoints_answer_503_saying_so(string method, string path)
    {
        // No training service: the run is never assembled, as in the seconds a large data set takes to load.
        using var factory = new ControlPlaneFactory(configure: web => web.Services.Remove(
            web.Services.Single(d => d.ServiceType == typeof(Microsoft.Extensions.Hosting.IHostedService)
                && d.ImplementationType == typeof(App.Hosting.TrainingService))));
        using HttpClient client = factory.CreateAuthorizedClient();
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        request.Content = method == "POST" ? JsonContent.Create(new { kind = "pause" }) : null;
        using HttpResponseMessage response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.ServiceUnavailable, response.StatusCode);
        JsonElement problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal("Run not ready", problem.GetProperty("title").GetString());

        using HttpResponseMessage metrics = await client.GetAsync("/api/metrics"); // read from the records: no run needed
        Assert.Equal(HttpStatusCode.OK, metrics.StatusCode);
    }

    [Fact]
    public async Task The_OpenAPI_document_names_no_server_so_it_cannot_echo_the_callers_host()
    {
        using HttpClient client = _factory.CreateClient();
        JsonElement document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        Assert.True(!document.TryGetProperty("servers", out JsonElement servers) || servers.GetArrayLength() == 0, servers.ToString());
        Assert.True(document.GetProperty("paths").TryGetProperty("/api/commands", out _));
    }

    [Fact]
    public async Task A_body_that_is_not_UTF8_is_a_bad_request_and_queues_nothing()
    {
        int before = CommandCount();
        using HttpClient client = _factory.CreateAuthorizedClient();
        byte[] body = [.. "{\"kind\":\"save_checkpoint\",\"to_disk\":true,\"x\":\""u8, 0xFF, 0xFE, .. "\"}"u8];
        using var content = new ByteArrayContent(body);
        content.Headers.ContentType = new MediaTypeHeaderValue("application/json");
        using HttpResponseMessage response = await client.PostAsync("/api/commands", content);
        Assert.Equal(HttpStatusCode.BadRequest, response.StatusCode);
        Assert.Contains("not valid UTF-8", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
        Assert.Equal(before, CommandCount());
    }

    [Fact]
    public async Task An_oversize_body_without_the_token_is_told_it_needs_the_token_not_how_large_a_body_may_be()
    {
        _ = _factory.Run;
        using HttpClient anonymous = _factory.CreateClient();
        using var huge = new StringContent("{\"kind\":\"pause\",\"pad\":\"" + new string('x', 200_000) + "\"}", System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage response = await anonymous.PostAsync("/api/commands", huge);
        Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);

        using HttpClient authorized = _factory.CreateAuthorizedClient();
        using var again = new StringContent("{\"kind\":\"pause\",\"pad\":\"" + new string('x', 200_000) + "\"}", System.Text.Encoding.UTF8, "application/json");
        using HttpResponseMessage tooLarge = await authorized.PostAsync("/api/commands", again);
        Assert.Equal(HttpStatusCode.RequestEntityTooLarge, tooLarge.StatusCode);
    }

    [Fact]
    public async Task A_deleted_agent_db_is_made_again_and_the_review_queue_keeps_answering()
    {
        string database = _factory.Run.Agent!.Reviews.DatabasePath;
        using HttpClient client = _factory.CreateAuthorizedClient();
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/reviews")).StatusCode);
        foreach (string file in new[] { database, database + "-wal", database + "-shm" })
        {
            File.Delete(file);
        }
        using HttpResponseMessage reviews = await client.GetAsync("/api/reviews");
        Assert.Equal(HttpStatusCode.OK, reviews.StatusCode);
        Assert.Equal("[]", (await reviews.Content.ReadAsStringAsync()).Trim());
        using HttpResponseMessage approve = await client.PostAsJsonAsync("/api/reviews/gone/approve", new { reviewer = "kim" });
        Assert.Equal(HttpStatusCode.NotFound, approve.StatusCode);
        Assert.True(File.Exists(database));
        Assert.Equal(HttpStatusCode.OK, (await client.GetAsync("/api/audit")).StatusCode);
    }

    [Fact]
    public async Task An_unexpected_failure_is_a_500_naming_a_correlation_id_that_the_log_has_with_the_error()
    {
        string database = _factory.Run.Agent!.Reviews.DatabasePath;
        foreach (string file in new[] { database, database + "-wal", database + "-shm" })
        {
            File.Delete(file);
        }
        Directory.CreateDirectory(database); // agent.db is now a folder: SQLite cannot open it
        using HttpClient client = _factory.CreateAuthorizedClient();
        using HttpResponseMessage response = await client.GetAsync("/api/reviews");
        Assert.Equal(HttpStatusCode.InternalServerError, response.StatusCode);
        string correlation = Assert.Single(response.Headers.GetValues("X-Correlation-Id"));
        string detail = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("detail").GetString()!;
        Assert.Contains(correlation, detail, StringComparison.Ordinal);
        Assert.DoesNotContain("Sqlite", detail, StringComparison.OrdinalIgnoreCase); // no internals to the caller
        (_, LogLevel level, string message, Exception? error) = Assert.Single(_log.Entries, entry => entry.Message.Contains(correlation, StringComparison.Ordinal));
        Assert.Equal(LogLevel.Error, level);
        Assert.Contains("GET /api/reviews failed", message, StringComparison.Ordinal);
        Assert.NotNull(error);
    }

    /// <summary>Commands the run has seen so far (all sources), as /api/commands lists them.</summary>
    private int CommandCount()
    {
        _ = _factory.Run;
        return _factory.Services.GetRequiredService<RunMonitor>().Commands().Count;
    }
}
