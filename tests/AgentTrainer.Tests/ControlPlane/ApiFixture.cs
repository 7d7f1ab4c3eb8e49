using System.Net.Http.Json;
using System.Text.Json;
using AgentTrainer.ControlPlane;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using Xunit;

namespace AgentTrainer.Tests.ControlPlane;

/// <summary>One real run behind the API for a test class: it trains 150+ steps (so there is history),
/// then waits paused; tests that need it running resume and pause it again.</summary>
public sealed class ApiFixture : IAsyncLifetime
{
    public ControlPlaneFactory Factory { get; } = new(new() { ["Training:StartPaused"] = "false" });

    public RunHandle Run => Factory.Run;

    public async Task InitializeAsync()
    {
        RunHandle run = Factory.Run;
        await Until(() => run.Run.State.Step >= 150, "the run to train 150 steps");
        using HttpClient client = Factory.CreateAuthorizedClient();
        await Send(client, new PauseCommand());
        await Until(() => run.Run.State.Paused, "the run to pause");
    }

    public Task DisposeAsync()
    {
        Factory.Dispose();
        return Task.CompletedTask;
    }

    /// <summary>Submits a command through the API and waits until the trainer has applied it.</summary>
    public static async Task<JsonElement> Send(HttpClient client, TrainerCommand command, string? source = null)
    {
        using HttpResponseMessage response = await client.PostAsJsonAsync("/api/commands" + (source is null ? "" : "?source=" + source), command, Api.ApiJsonOptions);
        Assert.Equal(System.Net.HttpStatusCode.Accepted, response.StatusCode);
        string id = (await response.Content.ReadFromJsonAsync<JsonElement>()).GetProperty("id").GetString()!;
        JsonElement view = default;
        await Until(async () =>
        {
            view = await client.GetFromJsonAsync<JsonElement>($"/api/commands/{id}");
            return view.GetProperty("status").GetString() is "succeeded" or "failed";
        }, $"command {id} to finish");
        return view;
    }

    /// <summary>Puts a proposal in the run's review queue, as the supervisor does when the policy asks for a person.</summary>
    public Proposal AddReview(InterventionAction action, string reason)
    {
        var state = Run.Run.State;
        var proposal = new Proposal
        {
            Id = $"test-{Guid.NewGuid():N}"[..16], Action = action, Reason = reason, Source = CommandSource.Agent,
            BasedOnStep = state.Step, BasedOnBranch = state.Branch,
        };
        Run.Agent!.Reviews.Add(proposal, new GateDecision(Verdict.Review, "approval.required_for", "needs a person"), "summary the agent saw", TimeSpan.FromHours(1));
        return proposal;
    }

    public static Task Until(Func<bool> condition, string what) => Until(() => Task.FromResult(condition()), what);

    public static async Task Until(Func<Task<bool>> condition, string what)
    {
        DateTime deadline = DateTime.UtcNow.AddSeconds(60);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new TimeoutException($"Gave up waiting for {what}.");
            }
            await Task.Delay(20);
        }
    }
}

/// <summary>JSON as the API speaks it.</summary>
public static class Api
{
    public static readonly JsonSerializerOptions ApiJsonOptions = AgentTrainer.ControlPlane.Api.ApiJson.Options;
}
