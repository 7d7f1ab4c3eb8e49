using System.Collections.Concurrent;
using System.Net.Http.Json;
using System.Text.Json;
using AgentTrainer.Core.Records;
using AgentTrainer.Service.Store;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.Retry;
using Polly.Timeout;

namespace AgentTrainer.Service.Alerts;

/// <summary>Delivers queued notifications to webhooks, each delivery on its own task with its webhook's retries,
/// exponential backoff and per-attempt timeout (Polly), and records every outcome in the store's delivery log. Runs
/// never wait for it: they are other processes, and the service's own work only queues a row.</summary>
public sealed partial class WebhookSender(
    ServiceStore store, NotificationRules rules, IHttpClientFactory http, TimeProvider time, ILogger<WebhookSender> logger)
    : BackgroundService
{
    public const string HttpClientName = "webhooks";

    /// <summary>The backoff doubles up to this.</summary>
    private static readonly TimeSpan MaxRetryDelay = TimeSpan.FromMinutes(10);

    /// <summary>Longer than the most retries (10) with the longest delays and timeouts (10 minutes each) could
    /// take.</summary>
    private static readonly TimeSpan StaleSending = TimeSpan.FromHours(6);
    private readonly SemaphoreSlim _wake = new(0);
    private readonly ConcurrentDictionary<long, Task> _sending = new();
    private readonly Dictionary<string, ResiliencePipeline<HttpResponseMessage>> _pipelines =
        rules.Webhooks.Values.ToDictionary(webhook => webhook.Name, Pipeline, StringComparer.Ordinal);

    public void Wake() => _wake.Release();

    public IReadOnlyList<Delivery> Log(int limit) => store.Query(
        "SELECT * FROM deliveries ORDER BY id DESC LIMIT @limit",
        reader => new Delivery(ServiceStore.Number(reader, "id")!.Value, ServiceStore.Text(reader, "notification")!,
            ServiceStore.Text(reader, "webhook")!, ServiceStore.ReadTime(reader, "time"),
            (int)ServiceStore.Number(reader, "attempts")!.Value, ServiceStore.Text(reader, "status")!,
            ServiceStore.Text(reader, "error")), ("@limit", limit));

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        // A delivery an instance took and never finished (killed mid-send) is taken again once it is clearly stale:
        // longer ago than any webhook's every attempt and backoff could take.
        store.Execute("UPDATE deliveries SET status = @pending WHERE status = @sending AND time < @stale",
            ("@pending", DeliveryStatus.Pending), ("@sending", DeliveryStatus.Sending),
            ("@stale", ServiceStore.Time(time.GetUtcNow() - StaleSending)));
        while (!stoppingToken.IsCancellationRequested)
        {
            foreach ((long id, string key, string webhook) in Claim())
            {
                _sending[id] = Task.Run(() => SendAsync(id, key, webhook, stoppingToken), CancellationToken.None);
            }
            try
            {
                await _wake.WaitAsync(TimeSpan.FromSeconds(1), stoppingToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
        await Task.WhenAll(_sending.Values).ConfigureAwait(false);
    }

    /// <summary>Pending deliveries this instance takes (a conditional update each, so no other instance sends
    /// them).</summary>
    private List<(long Id, string Key, string Webhook)> Claim() =>
    [
        .. store.Query("SELECT id, notification, webhook FROM deliveries WHERE status = @pending ORDER BY id",
                reader => (Id: ServiceStore.Number(reader, "id")!.Value, Key: reader.GetString(1), Webhook: reader.GetString(2)),
                ("@pending", DeliveryStatus.Pending))
            .Where(row => store.Execute("UPDATE deliveries SET status = @sending, time = @now WHERE id = @id AND status = @pending",
                ("@sending", DeliveryStatus.Sending), ("@now", ServiceStore.Time(time.GetUtcNow())), ("@id", row.Id),
                ("@pending", DeliveryStatus.Pending)) == 1),
    ];

    private async Task SendAsync(long id, string key, string webhookName, CancellationToken cancel)
    {
        int attempts = 0;
        string? error = null;
        try
        {
            if (!rules.Webhooks.TryGetValue(webhookName, out Webhook? webhook))
            {
                error = $"no webhook named '{webhookName}' in the alert rules any more";
                return;
            }
            string json = store.Query("SELECT json FROM notifications WHERE key = @key", reader => reader.GetString(0), ("@key", key))
                .Single();
            var notification = JsonSerializer.Deserialize<Notification>(json, RunJson.Options)!;
            HttpClient client = http.CreateClient(HttpClientName);
            using HttpResponseMessage response = await _pipelines[webhookName].ExecuteAsync(async token =>
            {
                attempts++;
                using HttpContent body = Body(webhook.Format, notification);
                try
                {
                    HttpResponseMessage answer = await client.PostAsync(webhook.Url, body, token).ConfigureAwait(false);
                    error = answer.IsSuccessStatusCode ? null : $"HTTP {(int)answer.StatusCode} {answer.ReasonPhrase}";
                    return answer;
                }
                catch (Exception failure) when (failure is HttpRequestException or OperationCanceledException)
                {
                    error = failure is OperationCanceledException
                        ? $"no answer within {webhook.Timeout.TotalSeconds:0.#} s"
                        : failure.Message;
                    throw;
                }
            }, cancel).ConfigureAwait(false);
        }
        catch (Exception failure) when (failure is HttpRequestException or TimeoutRejectedException or OperationCanceledException)
        {
            error ??= failure.Message;
        }
        finally
        {
            string status = error is null ? DeliveryStatus.Delivered : DeliveryStatus.Failed;
            store.Execute("UPDATE deliveries SET status = @status, attempts = @attempts, error = @error, time = @time WHERE id = @id",
                ("@status", status), ("@attempts", (long)attempts), ("@error", error), ("@time", ServiceStore.Time(time.GetUtcNow())),
                ("@id", id));
            if (error is not null)
            {
                LogFailed(logger, key, webhookName, attempts, error);
            }
            _sending.TryRemove(id, out _);
        }
    }

    private static JsonContent Body(WebhookFormat format, Notification notification) => format switch
    {
        WebhookFormat.Slack => JsonContent.Create(new { text = $"*AgentTrainer* · {notification.Run}: {notification.Text}" }),
        _ => JsonContent.Create(new
        {
            @event = NotificationEvents.Name(notification.Event), run = notification.Run, time = notification.Time,
            text = notification.Text, details = notification.Details, key = notification.Key,
        }),
    };

    /// <summary>The webhook's retries (on a failed status, a refused connection or a timed-out attempt) with
    /// exponential backoff, each attempt under its own timeout.</summary>
    private static ResiliencePipeline<HttpResponseMessage> Pipeline(Webhook webhook)
    {
        var builder = new ResiliencePipelineBuilder<HttpResponseMessage>();
        if (webhook.Retries > 0)
        {
            builder.AddRetry(new RetryStrategyOptions<HttpResponseMessage>
            {
                MaxRetryAttempts = webhook.Retries,
                Delay = webhook.RetryDelay,
                BackoffType = DelayBackoffType.Exponential,
                MaxDelay = MaxRetryDelay,
                UseJitter = false,
                ShouldHandle = new PredicateBuilder<HttpResponseMessage>()
                    .Handle<HttpRequestException>()
                    .Handle<TimeoutRejectedException>()
                    .HandleResult(response => !response.IsSuccessStatusCode),
                OnRetry = retry =>
                {
                    retry.Outcome.Result?.Dispose();
                    return default;
                },
            });
        }
        return builder.AddTimeout(webhook.Timeout).Build();
    }

    public override void Dispose()
    {
        _wake.Dispose();
        base.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Notification {Key} to webhook {Webhook} failed after {Attempts} attempts: {Error}")]
    private static partial void LogFailed(ILogger logger, string key, string webhook, int attempts, string error);
}

/// <summary>One delivery in the log: which notification to which webhook, how many attempts, and how it
/// ended.</summary>
public sealed record Delivery(
    long Id, string Notification, string Webhook, DateTimeOffset Time, int Attempts, string Status, string? Error);
