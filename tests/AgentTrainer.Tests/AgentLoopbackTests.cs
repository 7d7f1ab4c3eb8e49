using System.Text.Json;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Agents;
using AgentTrainer.Agents.Decisions;
using AgentTrainer.Agents.Resilience;
using AgentTrainer.Agents.Tools;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Summaries;
using Microsoft.Extensions.Time.Testing;
using Microsoft.SemanticKernel.Connectors.OpenAI;

namespace AgentTrainer.Tests;

/// <summary>The OpenAI provider through Semantic Kernel and Polly, against a real loopback server
/// that injects faults. Time is fake: backoffs, Retry-After and timeouts pass in an instant.</summary>
public sealed class AgentLoopbackTests : IAsyncLifetime
{
    private readonly FakeTimeProvider _time = new();
    private LoopbackOpenAIServer _server = null!;
    private readonly List<Proposal> _proposals = [];

    public async Task InitializeAsync() => _server = await LoopbackOpenAIServer.StartAsync();

    public async Task DisposeAsync() => await _server.DisposeAsync();

    private TrainingAgent Agent(
        int maxRetries = 3, string fallback = AgentProviders.Keep, IReadOnlyList<InterventionAction>? tools = null) =>
        new("openai", new OpenAIChatCompletionService("loopback", _server.BaseUrl, "test-key", httpClient: AgentFactory.NewHttpClient()),
            "You supervise a training run.", new SummaryRenderer("step {{step}}\n{{signals}}"),
            new ResilienceOptions
            {
                MaxRetries = maxRetries, BaseDelay = TimeSpan.FromSeconds(2), AttemptTimeout = TimeSpan.FromSeconds(20), TotalTimeout = TimeSpan.FromMinutes(5),
                Fallback = fallback,
            },
            maxTurns: 2, _time, tools);

    /// <summary>Runs a decision while moving fake time forward, as the real clock would.</summary>
    private async Task<DecisionRecord> Decide(TrainingAgent agent, Func<Proposal, GateDecision>? gate = null)
    {
        Task<DecisionRecord> decision = agent.DecideAsync(Summaries.Healthy(step: 300), (proposal, _) =>
        {
            _proposals.Add(proposal);
            return gate?.Invoke(proposal) ?? new GateDecision(Verdict.Apply, "within_policy", "ok");
        }, CancellationToken.None);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (!decision.IsCompleted)
        {
            Assert.True(clock.Elapsed < TimeSpan.FromSeconds(30), "the decision did not finish");
            await Task.Delay(10);
            _time.Advance(TimeSpan.FromMilliseconds(100)); // 10x real time: a slow first request (JIT) stays far below the 20 s attempt timeout
        }
        return await decision;
    }

    [Fact]
    public async Task AToolCall_BecomesAProposal_AndTheGatesAnswerGoesBackAsTheToolResult()
    {
        _server.Then(LoopbackOpenAIServer.ToolCall("halve_learning_rate", """{"reason":"loss rising 4% per 100 steps"}"""),
                     LoopbackOpenAIServer.Text("ok"));
        DecisionRecord record = await Decide(Agent());
        Proposal proposal = Assert.Single(_proposals);
        Assert.Equal(InterventionAction.HalveLearningRate, proposal.Action);
        Assert.Equal("loss rising 4% per 100 steps", proposal.Reason);
        Assert.Equal(300, proposal.BasedOnStep);
        Assert.Empty(record.ModelErrors);
        ModelTurn turn = Assert.Single(record.Turns);
        Assert.Equal((1, 321, 17), (turn.Trace.Attempts, turn.InputTokens, turn.OutputTokens));

        // The request advertised exactly the five tools and required a call.
        var request = _server.Requests.First();
        Assert.Equal("required", (string)request["tool_choice"]!);
        Assert.Equal(
            ["training-double_learning_rate", "training-halve_learning_rate", "training-keep_learning_rate", "training-reset_layer", "training-rollback_checkpoint"],
            request["tools"]!.AsArray().Select(t => (string)t!["function"]!["name"]!).Order());
        // The arguments the tools take are the names the rest of the code uses (ToolNames), spelled once.
        Assert.Equal([ToolNames.CheckpointArgument, ToolNames.ReasonArgument], Required(ToolNames.RollbackCheckpoint));
        Assert.Equal([ToolNames.LayerArgument, ToolNames.ReasonArgument], Required(ToolNames.ResetLayer));
        string[] Required(string tool) => [.. request["tools"]!.AsArray()
            .Single(t => (string)t!["function"]!["name"]! == $"{InterventionTools.PluginName}-{tool}")!["function"]!["parameters"]!["required"]!
            .AsArray().Select(n => (string)n!).Order()];
    }

    [Theory]
    [InlineData("policies/unattended.yaml", "")]
    [InlineData("policies/supervised.yaml", "")]
    [InlineData("policies/explore.yaml", ToolNames.ExploreLearningRate)]
    [InlineData("policies/research.yaml", ToolNames.ExploreLearningRate + " " + ToolNames.SkipData)]
    public async Task ATool_IsAdvertised_OnlyUnderAPolicyWithItsSection(string policyFile, string extra)
    {
        Policy policy = PolicyLoader.Load(ContentPaths.Resolve(policyFile));
        string[] extras = extra.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        string called = extras.LastOrDefault() ?? ToolNames.KeepLearningRate;
        _server.Then(LoopbackOpenAIServer.ToolCall(called, """{"reason":"testing the tool"}"""));
        await Decide(Agent(tools: policy.OfferedTools));
        string[] advertised = [.. _server.Requests.First()["tools"]!.AsArray()
            .Select(t => ((string)t!["function"]!["name"]!)[(InterventionTools.PluginName.Length + 1)..]).Order()];
        string[] five = [.. InterventionActions.Always.Select(InterventionActions.Name)];
        Assert.Equal([.. five.Concat(extras).Order()], advertised);
        Assert.Equal(called, InterventionActions.Name(Assert.Single(_proposals).Action));
        // The command a proposal becomes takes its size from the policy, not from the model.
        TrainerCommand? command = _proposals[0].ToCommand(policy);
        if (called == ToolNames.SkipData)
        {
            Assert.Equal(new SkipDataCommand(policy.SkipData!.Batches), command);
        }
    }

    [Fact]
    public async Task A429WithRetryAfter_IsRetriedAfterTheServersDelay()
    {
        _server.Then(LoopbackOpenAIServer.Status(429, retryAfter: "7"), LoopbackOpenAIServer.ToolCall("keep_learning_rate", """{"reason":"fine"}"""));
        DecisionRecord record = await Decide(Agent());
        ModelCallTrace trace = record.Turns[0].Trace;
        Assert.Equal(2, trace.Attempts);
        RetryRecord retry = Assert.Single(trace.Retries);
        Assert.Equal("HTTP 429", retry.Error);
        Assert.Equal(7000, retry.DelayMs);
        Assert.Equal(ModelCallOutcomes.Ok, trace.Outcome);
        Assert.Equal(2, _server.Requests.Count); // no hidden retries inside the SDK
    }

    [Fact]
    public async Task A429WithRetryAfterAsADate_WaitsUntilThatTimeOnThePipelinesClock()
    {
        // The fake clock stands in the year 2000: measured on the real clock, this date would be long past (no wait).
        string date = (_time.GetUtcNow() + TimeSpan.FromSeconds(60)).ToString("R", System.Globalization.CultureInfo.InvariantCulture);
        _server.Then(LoopbackOpenAIServer.Status(429, retryAfter: date), LoopbackOpenAIServer.ToolCall("keep_learning_rate", """{"reason":"fine"}"""));
        DecisionRecord record = await Decide(Agent());
        RetryRecord retry = Assert.Single(record.Turns[0].Trace.Retries);
        Assert.InRange(retry.DelayMs, 50_000, 60_000);
    }

    [Fact]
    public async Task ServerErrorsAndAHang_AreRetried_WithBackoff_ThenSucceed()
    {
        _server.Then(LoopbackOpenAIServer.Status(500), LoopbackOpenAIServer.Hang(), LoopbackOpenAIServer.Status(503),
            LoopbackOpenAIServer.ToolCall("double_learning_rate", """{"reason":"slow"}"""));
        DecisionRecord record = await Decide(Agent());
        ModelCallTrace trace = record.Turns[0].Trace;
        Assert.Equal(4, trace.Attempts);
        Assert.Equal(["HTTP 500", "timeout", "HTTP 503"], trace.Retries.Select(r => r.Error));
        Assert.All(trace.Retries, r => Assert.InRange(r.DelayMs, 0, 30_000)); // exponential with jitter, capped
        Assert.Equal(InterventionAction.DoubleLearningRate, Assert.Single(_proposals).Action);
    }

    [Fact]
    public async Task AnEndpointThatStaysDown_FallsBackToKeep_AndSaysSo()
    {
        _server.Otherwise = LoopbackOpenAIServer.Status(502);
        DecisionRecord record = await Decide(Agent(maxRetries: 2));
        ModelCallTrace trace = record.Turns[0].Trace;
        Assert.Equal(3, trace.Attempts);
        Assert.Equal(ModelCallOutcomes.FallbackKeep, trace.Outcome);
        Assert.Equal("HTTP 502", trace.Error);
        Assert.Equal(InterventionAction.KeepLearningRate, Assert.Single(_proposals).Action);
        Assert.StartsWith("model unavailable (HTTP 502)", Assert.Single(record.ModelErrors), StringComparison.Ordinal);
    }

    [Fact]
    public async Task AnEndpointThatStaysDown_CanFallBackToTheRulesModel()
    {
        _server.Otherwise = LoopbackOpenAIServer.Status(500);
        DecisionRecord record = await Decide(Agent(maxRetries: 1, fallback: AgentProviders.Rules));
        Assert.Equal(ModelCallOutcomes.FallbackRules, record.Turns[0].Trace.Outcome);
        Proposal proposal = Assert.Single(_proposals);
        Assert.Equal(InterventionAction.KeepLearningRate, proposal.Action);
        Assert.StartsWith("healthy enough", proposal.Reason, StringComparison.Ordinal); // the rules model's own judgement
    }

    public static TheoryData<string, string> BadAnswers => new()
    {
        { "malformed", "malformed JSON" },
        { "unknown-tool", "unknown tool 'delete_checkpoints'" },
        { "bad-arguments", "bad arguments for rollback_checkpoint" },
        { "no-tool-call", "no tool call" },
        { "prose", "prose instead of a tool call" },
    };

    [Theory]
    [MemberData(nameof(BadAnswers))]
    public async Task BadModelAnswers_CountAsKeep_AndAreRecordedAsModelErrors(string answer, string expectedError)
    {
        _server.Then(answer switch
        {
            "malformed" => LoopbackOpenAIServer.Raw("{\"choices\": [ {\"message\": "),
            "unknown-tool" => LoopbackOpenAIServer.ToolCall("delete_checkpoints", """{"reason":"space"}"""),
            "bad-arguments" => LoopbackOpenAIServer.ToolCall("rollback_checkpoint", """{"reason": 3"""),
            "no-tool-call" => LoopbackOpenAIServer.Text(""),
            _ => LoopbackOpenAIServer.Text("I think the learning rate is probably fine."),
        });
        _server.Otherwise = LoopbackOpenAIServer.Text("done");
        DecisionRecord record = await Decide(Agent(maxRetries: 0));
        Assert.Equal(InterventionAction.KeepLearningRate, Assert.Single(_proposals).Action);
        string error = Assert.Single(record.ModelErrors);
        Assert.Contains(expectedError == "malformed JSON" ? "model unavailable" : expectedError, error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task ARefusal_GivesTheModelOneMoreTurn()
    {
        _server.Then(LoopbackOpenAIServer.ToolCall("double_learning_rate", """{"reason":"slow"}"""),
                     LoopbackOpenAIServer.ToolCall("keep_learning_rate", """{"reason":"refused, so keep"}"""));
        DecisionRecord record = await Decide(Agent(), proposal => proposal.Action == InterventionAction.DoubleLearningRate
            ? new GateDecision(Verdict.Refuse, "learning_rate.max", "too high")
            : new GateDecision(Verdict.Apply, "keep", "nothing to change."));
        Assert.Equal([InterventionAction.DoubleLearningRate, InterventionAction.KeepLearningRate], _proposals.Select(p => p.Action));
        Assert.Equal(2, record.Turns.Count);
        // The second request carried the refusal back as the tool result.
        string secondRequest = _server.Requests.Last().ToJsonString();
        Assert.Contains("refused (learning_rate.max): too high", secondRequest, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_model_writing_a_megabyte_is_cut_to_bounds_before_anything_is_stored()
    {
        string megabyte = new('r', 1_000_000);
        _server.Then(LoopbackOpenAIServer.ToolCall("rollback_checkpoint",
                JsonSerializer.Serialize(new { checkpoint_id = "ckpt-" + megabyte, reason = megabyte })),
            LoopbackOpenAIServer.Text(megabyte)); // prose instead of a second call
        DecisionRecord record = await Decide(Agent(), _ => new GateDecision(Verdict.Refuse, "rollback.checkpoint", "no such checkpoint"));
        Proposal proposal = _proposals[0];
        Assert.Equal(ModelText.MaxReason, proposal.Reason.Length);
        Assert.EndsWith("[cut: 998,000 more characters]", proposal.Reason, StringComparison.Ordinal);
        Assert.Equal(ModelText.MaxName, proposal.CheckpointId!.Length);
        Assert.All(record.Turns, turn =>
        {
            Assert.True((turn.Arguments?.Length ?? 0) <= ModelText.MaxArguments);
            Assert.True((turn.Text?.Length ?? 0) <= ModelText.MaxReason);
        });
        Assert.All(record.ModelErrors, error => Assert.True(error.Length <= ModelText.MaxReason));
    }
}

/// <summary>Summaries for agent tests, built through the real builder.</summary>
public static class Summaries
{
    public static TrainingSummary Healthy(long step)
    {
        var steps = Enumerable.Range(0, (int)step).Select(i => new Core.Metrics.StepMetrics(i, 0, 0, 3.0 * Math.Exp(-i / 150.0) + 0.01 * Math.Sin(i), 1e-3, 0.5, 90, 700, false)).ToList();
        var limits = new PolicyLimits
        {
            Policy = "test", MinLearningRate = 1e-5, MaxLearningRate = 1e-2, CooldownRemaining = 0, RollbacksLeft = 3, MaxRollbackDepth = 600,
            ResettableLayers = ["hidden1"], NeedApproval = [],
        };
        return SummaryBuilder.Build(steps, [], new SummaryContext(step, 1000, 0, 1e-3, 1e-3, "scheduled", null, [], [], limits));
    }
}
