using System.Globalization;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace AgentTrainer.Service.Alerts;

/// <summary>Where notifications go: webhooks by name, and rules that send events (of some runs) to them.</summary>
public sealed record NotificationRules(IReadOnlyDictionary<string, Webhook> Webhooks, IReadOnlyList<AlertRule> Rules)
{
    public static NotificationRules None { get; } = new(new Dictionary<string, Webhook>(), []);

    /// <summary>The webhooks a notification goes to (each once, however many rules send it there).</summary>
    public IEnumerable<Webhook> Targets(Notification notification) => Rules
        .Where(rule => rule.Matches(notification))
        .SelectMany(rule => rule.Webhooks)
        .Distinct(StringComparer.Ordinal)
        .Select(name => Webhooks[name]);
}

public enum WebhookFormat
{
    /// <summary>The notification as JSON: event, run, time, text, details.</summary>
    Json,

    /// <summary>A Slack-compatible message body: <c>{"text": ...}</c> (Slack, Mattermost, Rocket.Chat incoming
    /// hooks).</summary>
    Slack,
}

/// <summary>A receiver: its address, body format, and how hard to try (retries after the first attempt, the first
/// retry's delay, doubling after, and how long one attempt may take).</summary>
public sealed record Webhook(string Name, Uri Url, WebhookFormat Format, int Retries, TimeSpan RetryDelay, TimeSpan Timeout);

/// <summary>Sends these events of the runs it names (a name, or a prefix ending in '*'; none: every run).</summary>
public sealed record AlertRule(string Name, IReadOnlySet<NotificationEvent> Events, IReadOnlyList<string> Webhooks, string? Runs)
{
    public bool Matches(Notification notification) =>
        Events.Contains(notification.Event)
        && (Runs is null || (Runs.EndsWith('*')
            ? notification.Run.StartsWith(Runs[..^1], StringComparison.Ordinal)
            : notification.Run == Runs));
}

/// <summary>An alert rules file that cannot be used; the message names the file and line of every problem.</summary>
public sealed class NotificationRulesException(string message) : Exception(message);

/// <summary>Reads and validates an alert rules file (YAML). Unknown keys, unknown events, webhooks that no rule
/// may name, addresses that are not http(s) and out-of-range numbers are errors, all reported together as
/// <c>FILE:LINE: problem</c>, as a policy's are.</summary>
public static class NotificationRulesLoader
{
    public const int MaxRetries = 10;

    public static NotificationRules Load(string path)
    {
        string yaml;
        try
        {
            yaml = File.ReadAllText(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new NotificationRulesException($"{path}: cannot read the alert rules: {error.Message}");
        }
        return Parse(yaml, path);
    }

    public static NotificationRules Parse(string yaml, string source)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException error)
        {
            throw new NotificationRulesException($"{source}:{error.Start.Line}: not valid YAML: {error.Message}");
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new NotificationRulesException($"{source}:1: alert rules are a mapping with 'webhooks' and 'rules'.");
        }
        var reader = new Reader(source);
        NotificationRules rules = reader.Read(root);
        if (reader.Errors.Count > 0)
        {
            throw new NotificationRulesException(string.Join(Environment.NewLine, reader.Errors));
        }
        return rules;
    }

    private sealed class Reader(string source)
    {
        public List<string> Errors { get; } = [];

        public NotificationRules Read(YamlMappingNode root)
        {
            Dictionary<string, YamlNode> sections = Keys(root, ["webhooks", "rules"]);
            var webhooks = new Dictionary<string, Webhook>(StringComparer.Ordinal);
            if (sections.GetValueOrDefault("webhooks") is YamlMappingNode hooks)
            {
                foreach ((YamlNode key, YamlNode value) in hooks.Children)
                {
                    string name = ((YamlScalarNode)key).Value ?? "";
                    if (ReadWebhook(name, value) is { } webhook)
                    {
                        webhooks[name] = webhook;
                    }
                }
            }
            else if (sections.TryGetValue("webhooks", out YamlNode? notMapping))
            {
                Error(notMapping, "webhooks: a mapping of names to webhooks.");
            }
            var rules = new List<AlertRule>();
            if (sections.GetValueOrDefault("rules") is YamlSequenceNode list)
            {
                int index = 0;
                foreach (YamlNode item in list.Children)
                {
                    if (ReadRule($"rules[{index++}]", item, webhooks.Keys.ToHashSet(StringComparer.Ordinal)) is { } rule)
                    {
                        rules.Add(rule);
                    }
                }
            }
            else if (sections.TryGetValue("rules", out YamlNode? notList))
            {
                Error(notList, "rules: a list of rules.");
            }
            return new NotificationRules(webhooks, rules);
        }

        private Webhook? ReadWebhook(string name, YamlNode node)
        {
            if (node is not YamlMappingNode mapping)
            {
                Error(node, $"webhooks.{name}: a mapping with url (and format, retries, retry_delay_seconds, timeout_seconds).");
                return null;
            }
            Dictionary<string, YamlNode> keys = Keys(mapping, ["url", "format", "retries", "retry_delay_seconds", "timeout_seconds"]);
            Uri? url = null;
            if (keys.GetValueOrDefault("url") is not YamlScalarNode { Value: { } text }
                || !Uri.TryCreate(text, UriKind.Absolute, out url) || url.Scheme is not ("http" or "https"))
            {
                Error(keys.GetValueOrDefault("url") ?? node, $"webhooks.{name}.url: an absolute http or https address.");
            }
            WebhookFormat format = WebhookFormat.Json;
            if (keys.GetValueOrDefault("format") is { } formatNode)
            {
                string? value = (formatNode as YamlScalarNode)?.Value;
                if (value == "json" || value == "slack")
                {
                    format = value == "slack" ? WebhookFormat.Slack : WebhookFormat.Json;
                }
                else
                {
                    Error(formatNode, $"webhooks.{name}.format: json or slack; got '{value}'.");
                }
            }
            int retries = (int)Number(keys, "retries", name, 3, 0, MaxRetries);
            double delay = Number(keys, "retry_delay_seconds", name, 1, 0.01, 600);
            double timeout = Number(keys, "timeout_seconds", name, 10, 0.1, 600);
            return url is null ? null
                : new Webhook(name, url, format, retries, TimeSpan.FromSeconds(delay), TimeSpan.FromSeconds(timeout));
        }

        private AlertRule? ReadRule(string name, YamlNode node, HashSet<string> webhooks)
        {
            if (node is not YamlMappingNode mapping)
            {
                Error(node, $"{name}: a mapping with events and webhooks (and runs).");
                return null;
            }
            Dictionary<string, YamlNode> keys = Keys(mapping, ["events", "webhooks", "runs"]);
            var events = new HashSet<NotificationEvent>();
            foreach (YamlScalarNode item in Strings(keys, "events", name))
            {
                if (NotificationEvents.Parse(item.Value ?? "") is { } parsed)
                {
                    events.Add(parsed);
                }
                else
                {
                    Error(item, $"{name}.events: '{item.Value}' is not one of {NotificationEvents.Names}.");
                }
            }
            var targets = new List<string>();
            foreach (YamlScalarNode item in Strings(keys, "webhooks", name))
            {
                if (webhooks.Contains(item.Value ?? ""))
                {
                    targets.Add(item.Value!);
                }
                else
                {
                    Error(item, $"{name}.webhooks: no webhook named '{item.Value}' (webhooks: {string.Join(", ", webhooks)}).");
                }
            }
            string? runs = (keys.GetValueOrDefault("runs") as YamlScalarNode)?.Value;
            return new AlertRule(name, events, targets, runs is null or "*" ? null : runs);
        }

        private List<YamlScalarNode> Strings(Dictionary<string, YamlNode> keys, string key, string owner)
        {
            if (keys.GetValueOrDefault(key) is YamlSequenceNode { Children.Count: > 0 } list
                && list.Children.All(child => child is YamlScalarNode))
            {
                return [.. list.Children.Cast<YamlScalarNode>()];
            }
            Error(keys.GetValueOrDefault(key), $"{owner}.{key}: a list of one or more names.");
            return [];
        }

        private double Number(Dictionary<string, YamlNode> keys, string key, string owner, double fallback, double min, double max)
        {
            if (keys.GetValueOrDefault(key) is not { } node)
            {
                return fallback;
            }
            if (node is YamlScalarNode { Value: { } text }
                && double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
                && value >= min && value <= max)
            {
                return value;
            }
            Error(node, string.Create(CultureInfo.InvariantCulture, $"webhooks.{owner}.{key}: a number from {min} to {max}."));
            return fallback;
        }

        private Dictionary<string, YamlNode> Keys(YamlMappingNode mapping, string[] known)
        {
            var keys = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
            foreach ((YamlNode key, YamlNode value) in mapping.Children)
            {
                string name = (key as YamlScalarNode)?.Value ?? "";
                if (known.Contains(name))
                {
                    keys[name] = value;
                }
                else
                {
                    Error(key, $"unknown key '{name}' (known here: {string.Join(", ", known)}).");
                }
            }
            return keys;
        }

        private void Error(YamlNode? node, string problem) =>
            Errors.Add(string.Create(CultureInfo.InvariantCulture, $"{source}:{node?.Start.Line ?? 1}: {problem}"));
    }
}
