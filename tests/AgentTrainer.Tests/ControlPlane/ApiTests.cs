using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text;
using System.Text.Json;
using AgentTrainer.Agents.Storage;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Runs;
using AgentTrainer.Training.Trainer;
using Xunit;

namespace AgentTrainer.Tests.ControlPlane;

/// <summary>Every endpoint of the API against a real run (WebApplicationFactory, in-memory server).</summary>
public sealed class ApiTests(ApiFixture fixture) : IClassFixture<ApiFixture>
{
    private readonly ControlPlaneFactory _factory = fixture.Factory;

    [Fact]
    public async Task Run_state_is_readable_without_a_token_on_loopback()
    {
        using HttpClient client = _factory.CreateClient();
        JsonElement run = await client.GetFromJsonAsync<JsonElement>("/api/run");
        Assert.Equal("paused", run.GetProperty("status").GetString());
        Assert.Equal("synthetic", run.GetProperty("task").GetString());
        Assert.True(run.GetProperty("step").GetInt64() >= 150);
        Assert.Equal("rules", run.GetProperty("agent").GetString());
        Assert.Equal("supervised", run.GetProperty("policy").GetString());
        Assert.Contains("output", run.GetProperty("layers").EnumerateArray().Select(l => l.GetString()));
        Assert.Equal(1, run.GetProperty("session").GetInt32());
        JsonElement budget = run.GetProperty("budget");
        long trained = budget.GetProperty("trained_steps").GetInt64();
        Assert.Equal(200_000, budget.GetProperty("max_trained_steps").GetInt64()); // 0: twice Steps (100,000)
        Assert.Equal(200_000 - trained, budget.GetProperty("steps_left").GetInt64());
        Assert.Equal(run.GetProperty("step").GetInt64(), trained); // one branch: every step trained once
    }

    [Fact]
    public async Task Metrics_checkpoints_branches_and_events_describe_the_history()
    {
        using HttpClient client = _factory.CreateClient();
        // Every step, however many the other tests let the run train (thinning to 5,000 is the default).
        string everyStep = $"/api/metrics?branch=0&max_points={AgentTrainer.ControlPlane.Api.RunApi.MaxPointsLimit}";
        JsonElement metrics = await client.GetFromJsonAsync<JsonElement>(everyStep);
        JsonElement[] train = [.. metrics.GetProperty("train").EnumerateArray()];
        Assert.True(train.Length >= 150);
        Assert.Equal(Enumerable.Range(0, train.Length).Select(i => (long)i), train.Select(p => p.GetProperty("step").GetInt64()));
        Assert.All(train, p => Assert.True(p.GetProperty("loss").GetDouble() > 0));
        Assert.Contains(metrics.GetProperty("eval").EnumerateArray(), e => e.GetProperty("step").GetInt64() == 100);

        JsonElement thinned = await client.GetFromJsonAsync<JsonElement>("/api/metrics?max_points=10");
        Assert.InRange(thinned.GetProperty("train").GetArrayLength(), 2, 11);
        JsonElement since = await client.GetFromJsonAsync<JsonElement>("/api/metrics?since_step=140");
        Assert.All(since.GetProperty("train").EnumerateArray(), p => Assert.True(p.GetProperty("step").GetInt64() > 140));

        JsonElement checkpoints = await client.GetFromJsonAsync<JsonElement>("/api/checkpoints");
        Assert.All(checkpoints.EnumerateArray(), c => Assert.Equal(0, c.GetProperty("step").GetInt64() % 50));
        Assert.Contains(checkpoints.EnumerateArray(), c => c.TryGetProperty("val_loss", out JsonElement loss) && loss.GetDouble() > 0);
        JsonElement branches = await client.GetFromJsonAsync<JsonElement>("/api/branches");
        Assert.Equal(0, branches[0].GetProperty("id").GetInt32());

        JsonElement started = await client.GetFromJsonAsync<JsonElement>("/api/events?type=run_started");
        Assert.Equal("synthetic", Assert.Single(started.EnumerateArray()).GetProperty("task").GetString());
    }

    [Fact]
    public async Task The_policy_in_force_is_shown_with_its_yaml()
    {
        using HttpClient client = _factory.CreateClient();
        JsonElement policy = await client.GetFromJsonAsync<JsonElement>("/api/policy");
        Assert.Equal("supervised", policy.GetProperty("policy").GetProperty("name").GetString());
        Assert.Equal(0.05, policy.GetProperty("policy").GetProperty("max_learning_rate").GetDouble());
        Assert.Contains("required_for:", policy.GetProperty("yaml").GetString());
    }

    [Theory]
    [InlineData("/api/commands")]
    [InlineData("/api/reviews/any/approve")]
    [InlineData("/api/reviews/any/reject")]
    public async Task Every_mutating_endpoint_requires_the_bearer_token(string path)
    {
        using HttpClient anonymous = _factory.CreateClient();
        using HttpResponseMessage missing = await anonymous.PostAsync(path, Json("""{"kind":"pause","reviewer":"x"}"""));
        Assert.Equal(HttpStatusCode.Unauthorized, missing.StatusCode);
        Assert.Equal("Bearer", missing.Headers.WwwAuthenticate.Single().Scheme);
        Assert.Equal("application/problem+json", missing.Content.Headers.ContentType?.MediaType);

        using HttpClient wrong = _factory.CreateClient();
        wrong.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", "not-the-token-0123456789");
        using HttpResponseMessage refused = await wrong.PostAsync(path, Json("""{"kind":"pause","reviewer":"x"}"""));
        Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
        Assert.False(fixture.Run.Run.State.Paused is false, "a refused pause changes nothing (the run stays paused)");
    }

    [Fact]
    public async Task A_command_is_queued_applied_and_listed_with_its_source()
    {
        using HttpClient client = _factory.CreateAuthorizedClient();
        double before = fixture.Run.Run.State.BaseLearningRate;
        using HttpResponseMessage response = await client.PostAsync("/api/commands?source=human", Json("""{"kind":"update_optimizer","learning_rate_factor":0.5}"""));
        Assert.Equal(HttpStatusCode.Accepted, response.StatusCode);
        JsonElement accepted = await response.Content.ReadFromJsonAsync<JsonElement>();
        string id = accepted.GetProperty("id").GetString()!;
        Assert.Equal($"/api/commands/{id}", response.Headers.Location?.ToString());
        Assert.Equal("human", accepted.GetProperty("source").GetString());

        await ApiFixture.Until(() => fixture.Run.Run.State.BaseLearningRate == before * 0.5, "the lr to be halved");
        JsonElement done = await client.GetFromJsonAsync<JsonElement>($"/api/commands/{id}");
        Assert.Equal("succeeded", done.GetProperty("status").GetString());
        JsonElement all = await client.GetFromJsonAsync<JsonElement>("/api/commands");
        Assert.Contains(all.EnumerateArray(), c => c.GetProperty("id").GetString() == id);

        JsonElement restored = await ApiFixture.Send(client, UpdateOptimizerCommand.ScaleLearningRate(2));
        Assert.Equal("api", restored.GetProperty("source").GetString());
        Assert.Equal(before, fixture.Run.Run.State.BaseLearningRate, 12);
    }

    [Fact]
    public async Task An_approved_review_is_applied_once_and_a_rejected_one_never()
    {
        using HttpClient client = _factory.CreateAuthorizedClient();
        Proposal approve = fixture.AddReview(InterventionAction.HalveLearningRate, "loss is oscillating");
        Proposal reject = fixture.AddReview(InterventionAction.DoubleLearningRate, "plateau");
        double before = fixture.Run.Run.State.BaseLearningRate;

        JsonElement queue = await client.GetFromJsonAsync<JsonElement>("/api/reviews?status=awaiting_review");
        JsonElement listed = queue.EnumerateArray().Single(r => r.GetProperty("proposal_id").GetString() == approve.Id);
        Assert.Equal("summary the agent saw", listed.GetProperty("summary").GetString());
        Assert.Equal("approval.required_for", listed.GetProperty("rule").GetString());

        using HttpResponseMessage approved = await client.PostAsync($"/api/reviews/{approve.Id}/approve", Json("""{"reviewer":"ann","comment":"ok"}"""));
        Assert.Equal(HttpStatusCode.OK, approved.StatusCode);
        using HttpResponseMessage rejected = await client.PostAsync($"/api/reviews/{reject.Id}/reject", Json("""{"reviewer":"bob"}"""));
        Assert.Equal("rejected", (await rejected.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("status").GetString());

        // The review follows its command: applied once the trainer reports the command succeeded (just after the lr changes).
        ReviewItem Item() => fixture.Run.Agent!.Reviews.List().Single(r => r.ProposalId == approve.Id);
        await ApiFixture.Until(() => Item().Status == ReviewStatus.Applied, "the approved halving to be applied");
        Assert.Equal(before * 0.5, fixture.Run.Run.State.BaseLearningRate, 12);
        ReviewItem item = Item();
        Assert.Equal("ann", item.Reviewer);
        JsonElement command = await client.GetFromJsonAsync<JsonElement>($"/api/commands/{item.CommandId}");
        Assert.Equal("human", command.GetProperty("source").GetString());

        using HttpResponseMessage again = await client.PostAsync($"/api/reviews/{approve.Id}/approve", Json("""{"reviewer":"ann"}"""));
        Assert.Equal(HttpStatusCode.Conflict, again.StatusCode);
        await Task.Delay(300);
        Assert.Equal(before * 0.5, fixture.Run.Run.State.BaseLearningRate, 12); // the rejected doubling never happened
        await ApiFixture.Send(client, UpdateOptimizerCommand.ScaleLearningRate(2));
    }

    [Fact]
    public async Task The_audit_log_is_searchable_and_paged()
    {
        using HttpClient client = _factory.CreateAuthorizedClient();
        JsonElement evaluated = await ApiFixture.Send(client, new EvaluateCommand());
        string id = evaluated.GetProperty("id").GetString()!;
        await ApiFixture.Until(async () => (await client.GetFromJsonAsync<JsonElement>($"/api/audit?q={id}")).GetArrayLength() >= 4, "the audit to hold the command");

        JsonElement found = await client.GetFromJsonAsync<JsonElement>($"/api/audit?q={id}&type=command");
        Assert.All(found.EnumerateArray(), e => Assert.Equal(id, e.GetProperty("event").GetProperty("id").GetString()));
        Assert.Equal(["succeeded", "running", "pending", "requested"], found.EnumerateArray().Select(e => e.GetProperty("event").GetProperty("status").GetString()));

        JsonElement page = await client.GetFromJsonAsync<JsonElement>("/api/audit?limit=2");
        long oldest = page[1].GetProperty("id").GetInt64();
        JsonElement next = await client.GetFromJsonAsync<JsonElement>($"/api/audit?limit=2&before_id={oldest}");
        Assert.All(next.EnumerateArray(), e => Assert.True(e.GetProperty("id").GetInt64() < oldest));
    }

    [Fact]
    public async Task The_live_stream_carries_steps_and_command_events()
    {
        using HttpClient client = _factory.CreateAuthorizedClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/stream");
        using HttpResponseMessage stream = await client.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal("text/event-stream", stream.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await stream.Content.ReadAsStreamAsync());

        using HttpResponseMessage resumed = await client.PostAsync("/api/commands", Json("""{"kind":"resume"}"""));
        Assert.Equal(HttpStatusCode.Accepted, resumed.StatusCode);
        var seen = new HashSet<string>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        string? type = null;
        while (!(seen.Contains("step") && seen.Contains("command")) && await reader.ReadLineAsync(timeout.Token) is { } line)
        {
            if (line.StartsWith("event: ", StringComparison.Ordinal))
            {
                type = line["event: ".Length..];
            }
            else if (line.StartsWith("data: ", StringComparison.Ordinal))
            {
                using JsonDocument data = JsonDocument.Parse(line["data: ".Length..]);
                seen.Add(type == "event" ? data.RootElement.GetProperty("type").GetString()! : type!);
            }
        }
        await ApiFixture.Send(client, new PauseCommand());
        Assert.Contains("step", seen);
        Assert.Contains("command", seen);
    }

    [Fact]
    public async Task OpenApi_describes_every_endpoint_and_the_dashboard_is_served_locally()
    {
        using HttpClient client = _factory.CreateClient();
        JsonElement document = await client.GetFromJsonAsync<JsonElement>("/openapi/v1.json");
        string[] paths = [.. document.GetProperty("paths").EnumerateObject().Select(p => p.Name)];
        Assert.Equivalent(new[]
        {
            "/api/run", "/api/metrics", "/api/checkpoints", "/api/branches", "/api/events", "/api/policy", "/api/commands", "/api/commands/{id}",
            "/api/reviews", "/api/reviews/{id}/approve", "/api/reviews/{id}/reject", "/api/audit", "/api/stream",
        }, paths);

        string page = await client.GetStringAsync("/");
        Assert.Contains("<script src=\"vendor/uplot-1.6.32/uPlot.iife.min.js\">", page);
        Assert.DoesNotContain("https://", page); // nothing from a CDN
        Assert.Contains("uPlot", await client.GetStringAsync("/vendor/uplot-1.6.32/uPlot.iife.min.js"));
    }

    [Fact]
    public async Task Cross_origin_requests_are_refused()
    {
        using HttpClient client = _factory.CreateAuthorizedClient();
        using var request = new HttpRequestMessage(HttpMethod.Get, "/api/run");
        request.Headers.Add("Origin", "http://evil.example");
        using HttpResponseMessage response = await client.SendAsync(request);
        Assert.Equal(HttpStatusCode.Forbidden, response.StatusCode);
        Assert.Contains("ControlPlane:AllowedOrigins", await response.Content.ReadAsStringAsync());

        using var sameOrigin = new HttpRequestMessage(HttpMethod.Get, "/api/run");
        sameOrigin.Headers.Add("Origin", "http://localhost");
        Assert.Equal(HttpStatusCode.OK, (await client.SendAsync(sameOrigin)).StatusCode);
    }

    public static TheoryData<string, string, string?, string, HttpStatusCode> BadInputs => new()
    {
        { "POST", "/api/commands", "{not json", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", """{"kind":"update_optimizer","lr":1}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", """{"kind":"warp_speed"}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", """{"learning_rate":0.1}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", """{"kind":"update_optimizer"}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", """{"kind":"update_optimizer","learning_rate":-1}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", """{"kind":"update_optimizer","learning_rate":"fast"}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", """{"kind":"update_optimizer","learning_rate":0.1,"learning_rate_factor":2}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", """{"kind":"update_optimizer","weight_decay":-0.1}""", "application/json", HttpStatusCode.BadRequest },
        // Beyond float32: once accepted, and the run died at its next step.
        { "POST", "/api/commands", """{"kind":"update_optimizer","learning_rate":1e39}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", """{"kind":"update_optimizer","grad_clip":1e300}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", """{"kind":"load_checkpoint"}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", """{"kind":"load_checkpoint","checkpoint_id":"ckpt-999999-b0"}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", """{"kind":"model_layer_operation","layer":"no_such_layer"}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", """{"kind":"model_layer_operation","layer":"output","operation":"explode"}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", "[1,2]", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", "null", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/commands", """{"kind":"pause"}""", "text/plain", HttpStatusCode.UnsupportedMediaType },
        { "POST", "/api/commands", "{\"kind\":\"pause\",\"pad\":\"" + new string('x', 70_000) + "\"}", "application/json", HttpStatusCode.RequestEntityTooLarge },
        { "POST", "/api/commands?source=robot", """{"kind":"pause"}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/reviews/no-such-proposal/approve", """{"reviewer":"ann"}""", "application/json", HttpStatusCode.NotFound },
        { "POST", "/api/reviews/no-such-proposal/reject", """{}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/reviews/no-such-proposal/approve", """{"reviewer":"ann","mood":"happy"}""", "application/json", HttpStatusCode.BadRequest },
        { "POST", "/api/reviews/no-such-proposal/approve", """{"reviewer":"   "}""", "application/json", HttpStatusCode.BadRequest },
        { "GET", "/api/metrics?max_points=1", null, "", HttpStatusCode.BadRequest },
        { "GET", "/api/metrics?branch=-1", null, "", HttpStatusCode.BadRequest },
        { "GET", "/api/metrics?branch=abc", null, "", HttpStatusCode.BadRequest },
        { "GET", "/api/events?limit=0", null, "", HttpStatusCode.BadRequest },
        { "GET", "/api/events?type=explosion", null, "", HttpStatusCode.BadRequest },
        { "GET", "/api/audit?limit=5000", null, "", HttpStatusCode.BadRequest },
        { "GET", "/api/audit?type=explosion", null, "", HttpStatusCode.BadRequest },
        { "GET", "/api/reviews?status=maybe", null, "", HttpStatusCode.BadRequest },
        { "GET", "/api/commands/cmd-99999", null, "", HttpStatusCode.NotFound },
        { "GET", "/api/no-such-endpoint", null, "", HttpStatusCode.NotFound },
    };

    [Theory]
    [MemberData(nameof(BadInputs))]
    public async Task Bad_input_gets_a_problem_and_changes_nothing(string method, string path, string? body, string contentType, HttpStatusCode expected)
    {
        using HttpClient client = _factory.CreateAuthorizedClient();
        RunState before = fixture.Run.Run.State;
        int commands = fixture.Run.Run.Checkpoints.Count;
        int reviews = fixture.Run.Agent!.Reviews.List().Count;
        using var request = new HttpRequestMessage(new HttpMethod(method), path);
        if (body is not null)
        {
            request.Content = new StringContent(body, Encoding.UTF8, contentType);
        }
        using HttpResponseMessage response = await client.SendAsync(request);

        Assert.Equal(expected, response.StatusCode);
        Assert.Equal("application/problem+json", response.Content.Headers.ContentType?.MediaType);
        JsonElement problem = await response.Content.ReadFromJsonAsync<JsonElement>();
        Assert.Equal((int)expected, problem.GetProperty("status").GetInt32());
        await Task.Delay(50);
        Assert.Equal(before, fixture.Run.Run.State);
        Assert.Equal(commands, fixture.Run.Run.Checkpoints.Count);
        Assert.Equal(reviews, fixture.Run.Agent.Reviews.List().Count);
    }

    private static StringContent Json(string json) => new(json, Encoding.UTF8, "application/json");
}
