using System.Text.Json;
using System.Text.Json.Nodes;
using AgentTrainer.Core.Policies;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Microsoft.SemanticKernel.Services;

namespace AgentTrainer.Agents.Providers;

/// <summary>Replays a recorded decision transcript: the n-th decision gets the n-th recorded tool
/// call. A run's own decisions.jsonl is such a transcript, so a past run's decisions can be re-run
/// exactly (with PauseWhileDeciding, decisions fall at the same steps). Past the end: keep.</summary>
public sealed class ReplayChatCompletionService : IChatCompletionService
{
    public const string ModelId = "replay";
    private readonly IReadOnlyList<RecordedCall> _calls;
    private int _next;

    public ReplayChatCompletionService(IReadOnlyList<RecordedCall> calls)
    {
        _calls = calls;
    }

    public IReadOnlyDictionary<string, object?> Attributes { get; } = new Dictionary<string, object?> { [AIServiceExtensions.ModelIdKey] = ModelId };

    /// <summary>Reads decisions.jsonl lines: <c>{"tool": "halve_learning_rate", "arguments": {"reason": "..."}}</c>.</summary>
    public static ReplayChatCompletionService FromFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new FileNotFoundException($"The replay transcript {path} does not exist (Agent:Replay:Transcript).", path);
        }
        var calls = new List<RecordedCall>();
        int line = 0;
        foreach (string text in File.ReadLines(path))
        {
            line++;
            if (string.IsNullOrWhiteSpace(text))
            {
                continue;
            }
            try
            {
                JsonNode node = JsonNode.Parse(text)!;
                string tool = (string?)node["tool"] ?? throw new JsonException("no \"tool\"");
                var arguments = node["arguments"]?.AsObject().ToDictionary(pair => pair.Key, pair => (string?)pair.Value) ?? [];
                calls.Add(new RecordedCall(tool, arguments));
            }
            catch (Exception error) when (error is JsonException or InvalidOperationException)
            {
                throw new InvalidDataException($"{path}:{line}: not a recorded decision ({error.Message}).", error);
            }
        }
        return new ReplayChatCompletionService(calls);
    }

    public Task<IReadOnlyList<ChatMessageContent>> GetChatMessageContentsAsync(
        ChatHistory chatHistory, PromptExecutionSettings? executionSettings = null, Kernel? kernel = null, CancellationToken cancellationToken = default)
    {
        if (chatHistory[^1].Role == AuthorRole.Tool)
        {
            return Task.FromResult<IReadOnlyList<ChatMessageContent>>([new ChatMessageContent(AuthorRole.Assistant, "Replayed.", ModelId)]);
        }
        int index = Interlocked.Increment(ref _next) - 1;
        RecordedCall call = index < _calls.Count
            ? _calls[index]
            : new RecordedCall(ToolNames.KeepLearningRate, new Dictionary<string, string?> { [ToolNames.ReasonArgument] = "the transcript has no more decisions" });
        return Task.FromResult<IReadOnlyList<ChatMessageContent>>([ToolCallMessage.Create(ModelId, $"replay_{index}", call.Tool, call.Arguments)]);
    }

    public IAsyncEnumerable<StreamingChatMessageContent> GetStreamingChatMessageContentsAsync(
        ChatHistory chatHistory, PromptExecutionSettings? executionSettings = null, Kernel? kernel = null, CancellationToken cancellationToken = default) =>
        throw new NotSupportedException("Replay does not stream.");
}

public sealed record RecordedCall(string Tool, IReadOnlyDictionary<string, string?> Arguments);
