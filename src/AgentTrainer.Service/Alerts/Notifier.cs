using System.Text.Json;
using AgentTrainer.Core.Records;
using AgentTrainer.Service.Store;

namespace AgentTrainer.Service.Alerts;

/// <summary>Raises notifications: each key is claimed once in the store (so a restart, or a second instance reading
/// the same runs, does not tell twice), and a delivery is queued for every webhook a rule sends it to.</summary>
public sealed class Notifier(ServiceStore store, NotificationRules rules, WebhookSender sender, TimeProvider time)
{
    /// <summary>False when the notification was raised before.</summary>
    public bool Raise(Notification notification)
    {
        string json = JsonSerializer.Serialize(notification, RunJson.Options);
        int claimed = store.Execute("""
            INSERT INTO notifications (key, time, event, run, json) VALUES (@key, @time, @event, @run, @json)
            ON CONFLICT (key) DO NOTHING
            """,
            ("@key", notification.Key), ("@time", ServiceStore.Time(notification.Time)),
            ("@event", NotificationEvents.Name(notification.Event)), ("@run", notification.Run), ("@json", json));
        if (claimed == 0)
        {
            return false;
        }
        bool queued = false;
        foreach (Webhook webhook in rules.Targets(notification))
        {
            store.Execute("""
                INSERT INTO deliveries (notification, webhook, time, attempts, status)
                VALUES (@key, @webhook, @time, 0, @status)
                """,
                ("@key", notification.Key), ("@webhook", webhook.Name), ("@time", ServiceStore.Time(time.GetUtcNow())),
                ("@status", DeliveryStatus.Pending));
            queued = true;
        }
        if (queued)
        {
            sender.Wake();
        }
        return true;
    }

    public IReadOnlyList<Notification> Recent(int limit) => store.Query(
        "SELECT json FROM notifications ORDER BY time DESC LIMIT @limit",
        reader => JsonSerializer.Deserialize<Notification>(reader.GetString(0), RunJson.Options)!, ("@limit", limit));
}

/// <summary>A delivery's life: pending → sending → delivered | failed (every retry spent).</summary>
public static class DeliveryStatus
{
    public const string Pending = "pending";
    public const string Sending = "sending";
    public const string Delivered = "delivered";
    public const string Failed = "failed";
}
