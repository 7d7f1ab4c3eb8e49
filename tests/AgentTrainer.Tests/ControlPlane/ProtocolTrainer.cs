using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using AgentTrainer.ControlPlane.Remote;
using Xunit;

namespace AgentTrainer.Tests.ControlPlane;

/// <summary>A trainer speaking the protocol from a test, with the contract's own types: it registers, numbers its
/// batches and steps, and keeps its run token.</summary>
public sealed class ProtocolTrainer
{
    public static readonly string[] Layers = ["embed", "hidden", "head"];

    private readonly HttpClient _http;

    private ProtocolTrainer(HttpClient http, RunAttached attached)
    {
        _http = http;
        Attached = attached;
    }

    public RunAttached Attached { get; private set; }
    public string Id => Attached.RunId;
    public string Token => Attached.Token;
    public long Batch { get; private set; }
    public long Step { get; set; }

    public static RegisterRunRequest Registration(string name, int version = TrainerProtocol.Version) => new(
        version, name, "test-task", 1000, Layers, new OptimizerSettings("adamw", 1e-3, 0.01, 1.0),
        new TrainerCapabilities(true, true, true, true), "test 1.0", "cpu");

    /// <summary>Registers with the operator's client; the trainer talks with its run token from then on.</summary>
    public static async Task<ProtocolTrainer> RegisterAsync(HttpClient operatorClient, Func<HttpClient> newClient, string name)
    {
        using HttpResponseMessage response = await operatorClient.PostAsJsonAsync(
            $"{TrainerProtocol.Prefix}/runs", Registration(name), Api.ApiJsonOptions);
        Assert.Equal(HttpStatusCode.Created, response.StatusCode);
        RunAttached attached = (await response.Content.ReadFromJsonAsync<RunAttached>(Api.ApiJsonOptions))!;
        HttpClient http = newClient();
        http.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", attached.Token);
        return new ProtocolTrainer(http, attached);
    }

    public string RunPath(string? more = null) => $"{TrainerProtocol.Prefix}/runs/{Id}{more}";

    /// <summary>Sends the next batch; it must be accepted.</summary>
    public async Task ReportAsync(params TrainerReport[] items)
    {
        using HttpResponseMessage response = await SendBatchAsync(Batch + 1, items);
        Assert.True(response.IsSuccessStatusCode, $"batch {Batch + 1}: {await response.Content.ReadAsStringAsync()}");
        Batch++;
    }

    public Task<HttpResponseMessage> SendBatchAsync(long batch, params TrainerReport[] items) =>
        _http.PostAsJsonAsync(RunPath("/reports"), new ReportBatch(batch, items), Api.ApiJsonOptions);

    /// <summary><paramref name="count"/> steps from <see cref="Step"/> on, each loss given by its step.</summary>
    public StepReport[] Steps(int count, Func<long, double> loss) =>
        [.. Enumerable.Range(0, count).Select(_ => new StepReport(Step, loss(Step++), 1e-3, GradNorm: 0.5, Samples: 32, StepMs: 10))];

    public async Task<CommandForTrainer[]> PollAsync(double waitSeconds = 0)
    {
        CommandsForTrainer owed = (await _http.GetFromJsonAsync<CommandsForTrainer>(
            RunPath($"/commands?wait_s={waitSeconds}"), Api.ApiJsonOptions))!;
        return [.. owed.Commands];
    }

    public async Task<JsonElement> StateAsync() => await _http.GetFromJsonAsync<JsonElement>(RunPath());

    /// <summary>Continues the run as its next session (the trainer came back).</summary>
    public async Task<RunAttached> StartSessionAsync()
    {
        using HttpResponseMessage response = await _http.PostAsJsonAsync(RunPath("/sessions"),
            new StartSessionRequest(TrainerProtocol.Version), Api.ApiJsonOptions);
        Assert.True(response.IsSuccessStatusCode, await response.Content.ReadAsStringAsync());
        Attached = (await response.Content.ReadFromJsonAsync<RunAttached>(Api.ApiJsonOptions))!;
        Batch = 0;
        Step = Attached.ResumeFrom!.Step;
        return Attached;
    }
}
