using System.Globalization;
using AgentTrainer.Agents.Providers;
using AgentTrainer.Agents.Resilience;
using AgentTrainer.Agents.Tools;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Summaries;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Services;
using Microsoft.Extensions.DependencyInjection;

namespace AgentTrainer.Agents.Decisions;

/// <summary>Asks the model for exactly one tool call per decision, over Semantic Kernel's real
/// function-calling path (tools advertised, tool_choice required, calls not auto-invoked). The call is
/// invoked by us: it becomes a proposal, the gate decides, and the gate's answer goes back to the model
/// as the tool result. A refusal allows another turn, up to MaxTurns. No tool call, prose, an unknown
/// tool or bad arguments count as keep, recorded as a model error.</summary>
public sealed class TrainingAgent
{
    private readonly Kernel _kernel;
    private readonly ModelCallPipeline _pipeline;
    private readonly string _systemPrompt;
    private readonly SummaryRenderer _renderer;
    private readonly int _maxTurns;
    private readonly PromptExecutionSettings _settings = new() { FunctionChoiceBehavior = FunctionChoiceBehavior.Required(autoInvoke: false) };
    private DecisionInProgress? _current;
    private long _decisions;
    private string _idPrefix = "dec-";

    /// <param name="tools">the tools offered (the policy's); null: the five every policy offers</param>
    public TrainingAgent(string provider, IChatCompletionService model, string systemPrompt, SummaryRenderer renderer,
        ResilienceOptions resilience, int maxTurns, TimeProvider time, IReadOnlyList<InterventionAction>? tools = null)
    {
        Provider = provider;
        ModelId = model.Attributes.TryGetValue(AIServiceExtensions.ModelIdKey, out object? id) && id is string name ? name : provider;
        _systemPrompt = systemPrompt;
        _renderer = renderer;
        _maxTurns = maxTurns;
        IKernelBuilder builder = Kernel.CreateBuilder();
        builder.Services.AddSingleton(model);
        builder.Plugins.Add(InterventionTools.Plugin(Propose, tools ?? InterventionActions.Always));
        _kernel = builder.Build();
        _pipeline = new ModelCallPipeline(model, resilience, time);
    }

    public string Provider { get; }
    public string ModelId { get; }

    /// <summary>Numbers this session's decisions (and so proposals) apart from an earlier session's:
    /// dec-00001 in the first, dec-s2-00001 in the second (a resumed run).</summary>
    public void StartSession(int session) => _idPrefix = session > 1 ? $"dec-s{session}-" : "dec-";

    /// <summary>One decision. <paramref name="gate"/> judges each proposal (given the summary text the
    /// agent saw); decisions do not overlap.</summary>
    public async Task<DecisionRecord> DecideAsync(TrainingSummary summary, Func<Proposal, string, GateDecision> gate, CancellationToken cancellation)
    {
        string text = _renderer.Render(summary);
        var record = new DecisionRecord
        {
            Id = _idPrefix + Interlocked.Increment(ref _decisions).ToString("D5", CultureInfo.InvariantCulture),
            Step = summary.Step, Branch = summary.Branch, Trigger = summary.Trigger, Summary = text, Provider = Provider, Model = ModelId,
        };
        var history = new ChatHistory(_systemPrompt);
        history.Add(new ChatMessageContent(AuthorRole.User, text, metadata: new Dictionary<string, object?> { [RulesChatCompletionService.SummaryKey] = summary }));
        _current = new DecisionInProgress(record, summary, gate);
        try
        {
            for (int turn = 0; turn < _maxTurns; turn++)
            {
                (ChatMessageContent? reply, ModelCallTrace trace) = await _pipeline.CallAsync(history, _settings, _kernel, cancellation).ConfigureAwait(false);
                if (reply is null)
                {
                    record.Turns.Add(new ModelTurn(trace, null, null, null, null, null));
                    KeepAfterModelError(record, $"model unavailable ({trace.Error}); fell back to keep");
                    break;
                }
                FunctionCallContent? call = FunctionCallContent.GetFunctionCalls(reply).FirstOrDefault();
                (int? input, int? output) = Tokens(reply);
                record.Turns.Add(new ModelTurn(trace, ModelText.Bound(call?.FunctionName, ModelText.MaxName),
                    call is null ? null : ModelText.Bound(Serialize(call.Arguments), ModelText.MaxArguments),
                    ModelText.Bound(reply.Content, ModelText.MaxReason), input, output));
                if (call is null)
                {
                    KeepAfterModelError(record, string.IsNullOrWhiteSpace(reply.Content) ? "no tool call" : "prose instead of a tool call");
                    break;
                }
                history.Add(reply);
                int proposals = record.Proposals.Count;
                FunctionResultContent result = await InvokeAsync(call, record, cancellation).ConfigureAwait(false);
                history.Add(result.ToChatMessage());
                if (record.Proposals.Count == proposals || record.Proposals[^1].Decision.Verdict != Verdict.Refuse)
                {
                    break; // decided (or a model error already fell back to keep)
                }
            }
        }
        finally
        {
            _current = null;
        }
        return record;
    }

    private async Task<FunctionResultContent> InvokeAsync(FunctionCallContent call, DecisionRecord record, CancellationToken cancellation)
    {
        if (call.Exception is not null)
        {
            return ModelError(call, record, $"bad arguments for {call.FunctionName}: {call.Exception.Message}");
        }
        if (call.PluginName != InterventionTools.PluginName || !_kernel.Plugins.TryGetFunction(call.PluginName, call.FunctionName, out _))
        {
            return ModelError(call, record, $"unknown tool '{call.FunctionName}'");
        }
        try
        {
            return await call.InvokeAsync(_kernel, cancellation).ConfigureAwait(false);
        }
        catch (Exception error) when (error is ArgumentException or KernelException or FormatException or InvalidCastException)
        {
            return ModelError(call, record, $"bad arguments for {call.FunctionName}: {error.Message}");
        }
    }

    private FunctionResultContent ModelError(FunctionCallContent call, DecisionRecord record, string error)
    {
        string answer = KeepAfterModelError(record, error);
        return new FunctionResultContent(call, answer);
    }

    private string KeepAfterModelError(DecisionRecord record, string error)
    {
        error = ModelText.Bound(error, ModelText.MaxReason)!; // it may quote the model (an unknown tool's name)
        record.ModelErrors.Add(error);
        return Propose(InterventionAction.KeepLearningRate, $"model error: {error}", null, null);
    }

    /// <summary>The tools' single entry point: a proposal for the gate, answered in words.</summary>
    private string Propose(InterventionAction action, string reason, string? checkpointId, string? layer)
    {
        DecisionInProgress decision = _current ?? throw new InvalidOperationException("A tool was called outside a decision.");
        var proposal = new Proposal
        {
            Id = $"{decision.Record.Id}-p{decision.Record.Proposals.Count + 1}",
            Action = action,
            Reason = string.IsNullOrWhiteSpace(reason) ? "(no reason given)" : ModelText.Bound(reason, ModelText.MaxReason)!,
            Source = CommandSource.Agent,
            BasedOnStep = decision.Summary.Step,
            BasedOnBranch = decision.Summary.Branch,
            CheckpointId = ModelText.Bound(checkpointId, ModelText.MaxName),
            Layer = ModelText.Bound(layer, ModelText.MaxName),
        };
        GateDecision verdict = decision.Gate(proposal, decision.Record.Summary);
        decision.Record.Proposals.Add(new GatedProposal(proposal, verdict));
        return verdict.ToToolResult();
    }

    private static (int? Input, int? Output) Tokens(ChatMessageContent reply) =>
        reply.Metadata?.TryGetValue("Usage", out object? usage) == true && usage is OpenAI.Chat.ChatTokenUsage tokens
            ? (tokens.InputTokenCount, tokens.OutputTokenCount)
            : (null, null);

    private static string Serialize(KernelArguments? arguments) =>
        System.Text.Json.JsonSerializer.Serialize(arguments?.ToDictionary(pair => pair.Key, pair => pair.Value?.ToString()) ?? []);

    private sealed record DecisionInProgress(DecisionRecord Record, TrainingSummary Summary, Func<Proposal, string, GateDecision> Gate);
}
