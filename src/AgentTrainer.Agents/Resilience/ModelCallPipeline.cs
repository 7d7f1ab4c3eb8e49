using System.ClientModel;
using System.ComponentModel.DataAnnotations;
using System.Net;
using AgentTrainer.Agents.Providers;
using AgentTrainer.Core.Options;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;
using Polly;
using Polly.CircuitBreaker;
using Polly.Fallback;
using Polly.Retry;
using Polly.Timeout;

namespace AgentTrainer.Agents.Resilience;

/// <summary>Polly around every model call: a fallback (keep, or the rules model), a total timeout,
/// retries with exponential backoff and jitter on 429, 5xx, timeouts and transport errors (honouring
/// Retry-After), a circuit breaker, and a per-attempt timeout. Every attempt is reported.</summary>
public sealed class ModelCallPipeline
{
    private static readonly ResiliencePropertyKey<ModelCallTrace> TraceKey = new("agent-trainer.trace");
    private readonly ResiliencePipeline<ChatMessageContent> _pipeline;
    private readonly IChatCompletionService _model;
    private readonly TimeProvider _time;

    public ModelCallPipeline(IChatCompletionService model, ResilienceOptions options, TimeProvider time)
    {
        _model = model;
        _time = time;
        var fallbackModel = new RulesChatCompletionService();
        var builder = new ResiliencePipelineBuilder<ChatMessageContent> { TimeProvider = time };
        builder
            .AddFallback(new FallbackStrategyOptions<ChatMessageContent>
            {
                ShouldHandle = arguments => ValueTask.FromResult(arguments.Outcome.Exception is not null and not OperationCanceledException
                    || arguments.Outcome.Exception is TimeoutRejectedException),
                FallbackAction = async arguments =>
                {
                    ModelCallTrace trace = arguments.Context.Properties.GetValue(TraceKey, null!);
                    trace.Error = Describe(arguments.Outcome.Exception!);
                    if (options.Fallback == AgentProviders.Rules)
                    {
                        trace.Outcome = ModelCallOutcomes.FallbackRules;
                        ChatHistory history = trace.History!;
                        return Outcome.FromResult(await fallbackModel.GetChatMessageContentAsync(history, cancellationToken: arguments.Context.CancellationToken).ConfigureAwait(false));
                    }
                    trace.Outcome = ModelCallOutcomes.FallbackKeep;
                    return Outcome.FromResult<ChatMessageContent>(null!);
                },
            })
            .AddTimeout(TotalTimeout(options));
        if (options.MaxRetries > 0)
        {
            builder.AddRetry(Retry(options, time));
        }
        _pipeline = builder.AddCircuitBreaker(Breaker(options)).AddTimeout(AttemptTimeout(options)).Build();
    }

    /// <summary>What Polly would refuse in these settings (its own validation attributes, checked on the
    /// same strategy options the pipeline is built from), each naming our key; null when nothing.</summary>
    public static string? Problems(ResilienceOptions options)
    {
        (object Strategy, Dictionary<string, string> Keys)[] strategies =
        [
            (TotalTimeout(options), new() { ["Timeout"] = nameof(options.TotalTimeout) }),
            (AttemptTimeout(options), new() { ["Timeout"] = nameof(options.AttemptTimeout) }),
            (Breaker(options), new()
            {
                ["FailureRatio"] = nameof(options.BreakerFailureRatio), ["MinimumThroughput"] = nameof(options.BreakerMinimumThroughput),
                ["SamplingDuration"] = nameof(options.BreakerSamplingDuration), ["BreakDuration"] = nameof(options.BreakerBreakDuration),
            }),
            .. options.MaxRetries > 0
                ? [(Retry(options, TimeProvider.System), new Dictionary<string, string>
                    {
                        ["MaxRetryAttempts"] = nameof(options.MaxRetries), ["Delay"] = nameof(options.BaseDelay),
                        ["MaxDelay"] = nameof(options.TotalTimeout),
                    })]
                : Array.Empty<(object, Dictionary<string, string>)>(),
        ];
        var problems = new List<string>();
        foreach ((object strategy, Dictionary<string, string> keys) in strategies)
        {
            var results = new List<ValidationResult>();
            if (!Validator.TryValidateObject(strategy, new ValidationContext(strategy), results, validateAllProperties: true))
            {
                problems.AddRange(results.Select(r => $"{string.Join(", ", r.MemberNames.Select(m => keys.GetValueOrDefault(m, m)))}: {r.ErrorMessage}"));
            }
        }
        return problems.Count == 0 ? null : string.Join(" ", problems);
    }

    private static TimeoutStrategyOptions TotalTimeout(ResilienceOptions options) => new() { Timeout = options.TotalTimeout };

    private static TimeoutStrategyOptions AttemptTimeout(ResilienceOptions options) => new() { Timeout = options.AttemptTimeout };

    private static RetryStrategyOptions<ChatMessageContent> Retry(ResilienceOptions options, TimeProvider time) => new()
    {
        MaxRetryAttempts = options.MaxRetries,
        BackoffType = DelayBackoffType.Exponential,
        UseJitter = true,
        Delay = options.BaseDelay,
        MaxDelay = options.BaseDelay > options.TotalTimeout ? options.BaseDelay : options.TotalTimeout,
        ShouldHandle = arguments => ValueTask.FromResult(IsTransient(arguments.Outcome.Exception)),
        DelayGenerator = arguments => ValueTask.FromResult(RetryAfter(arguments.Outcome.Exception, time.GetUtcNow())),
        OnRetry = arguments =>
        {
            arguments.Context.Properties.GetValue(TraceKey, null!).Retries.Add(
                new RetryRecord(arguments.AttemptNumber + 1, Describe(arguments.Outcome.Exception!), arguments.RetryDelay.TotalMilliseconds));
            return ValueTask.CompletedTask;
        },
    };

    private static CircuitBreakerStrategyOptions<ChatMessageContent> Breaker(ResilienceOptions options) => new()
    {
        FailureRatio = options.BreakerFailureRatio,
        MinimumThroughput = options.BreakerMinimumThroughput,
        SamplingDuration = options.BreakerSamplingDuration,
        BreakDuration = options.BreakerBreakDuration,
        ShouldHandle = arguments => ValueTask.FromResult(IsTransient(arguments.Outcome.Exception)),
    };

    /// <summary>One model turn. Returns null when the fallback is keep; the trace says what happened.</summary>
    public async Task<(ChatMessageContent? Reply, ModelCallTrace Trace)> CallAsync(ChatHistory history, PromptExecutionSettings settings, Kernel kernel, CancellationToken cancellation)
    {
        var trace = new ModelCallTrace { History = history };
        ResilienceContext context = ResilienceContextPool.Shared.Get(cancellation);
        context.Properties.Set(TraceKey, trace);
        long started = _time.GetTimestamp();
        try
        {
            ChatMessageContent? reply = await _pipeline.ExecuteAsync(
                async (ctx, state) =>
                {
                    state.Attempts++;
                    return await _model.GetChatMessageContentAsync(state.History!, settings, kernel, ctx.CancellationToken).ConfigureAwait(false);
                },
                context, trace).ConfigureAwait(false);
            trace.LatencyMs = _time.GetElapsedTime(started).TotalMilliseconds;
            return (reply, trace);
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    /// <summary>429, 5xx, timeouts and transport failures are worth another try; 4xx and malformed answers are not.</summary>
    public static bool IsTransient(Exception? error) => error switch
    {
        null => false,
        TimeoutRejectedException => true,
        HttpOperationException http => http.StatusCode is null or HttpStatusCode.TooManyRequests or >= HttpStatusCode.InternalServerError
            || http.InnerException is HttpRequestException,
        HttpRequestException => true,
        ClientResultException client => client.Status is 0 or 429 or >= 500,
        _ => false,
    };

    /// <summary>The server's Retry-After (seconds, or a date measured from <paramref name="now"/>: the
    /// pipeline's clock), when it sent one; otherwise Polly's backoff.</summary>
    public static TimeSpan? RetryAfter(Exception? error, DateTimeOffset now)
    {
        for (Exception? current = error; current is not null; current = current.InnerException)
        {
            if (current is ClientResultException client && client.GetRawResponse()?.Headers.TryGetValue("Retry-After", out string? value) == true && value is not null)
            {
                if (double.TryParse(value, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out double seconds))
                {
                    return TimeSpan.FromSeconds(Math.Max(0, seconds));
                }
                if (DateTimeOffset.TryParse(value, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AssumeUniversal, out DateTimeOffset at))
                {
                    TimeSpan wait = at - now;
                    return wait > TimeSpan.Zero ? wait : TimeSpan.Zero;
                }
            }
        }
        return null;
    }

    private static string Describe(Exception error) => error switch
    {
        HttpOperationException { StatusCode: { } status } => $"HTTP {(int)status}",
        TimeoutRejectedException => "timeout",
        BrokenCircuitException => "circuit open",
        _ => error.GetType().Name + ": " + error.Message,
    };
}

/// <summary>What happened in one model turn: attempts, retries and why, the outcome and latency.</summary>
public sealed class ModelCallTrace
{
    internal ChatHistory? History { get; init; }
    public int Attempts { get; set; }
    public List<RetryRecord> Retries { get; } = [];
    public string Outcome { get; set; } = ModelCallOutcomes.Ok;
    public string? Error { get; set; }
    public double LatencyMs { get; set; }
}

public sealed record RetryRecord(int Attempt, string Error, double DelayMs);

public static class ModelCallOutcomes
{
    public const string Ok = "ok";
    public const string FallbackKeep = "fallback_keep";
    public const string FallbackRules = "fallback_rules";
}
