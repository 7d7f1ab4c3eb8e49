using Microsoft.Extensions.Options;
using static System.FormattableString;

namespace AgentTrainer.Service;

/// <summary>The service's settings (section Service): its runs root, its store, how many child runs train at once,
/// how often run folders are read into the store, the alert rules, and when the morning report's night
/// begins.</summary>
public sealed class ServiceOptions
{
    public const string Section = "Service";

    /// <summary>Every run's folder is a folder under it: started here, attached over the protocol, or written by
    /// an <c>agent-trainer run --out ROOT/NAME</c> of someone's. The service's own files go in
    /// <c>.service/</c>.</summary>
    public string RunsRoot { get; set; } = "runs";

    /// <summary>Empty: SQLite in RUNS_ROOT/.service/service.db. A path or "Data Source=FILE": SQLite there.
    /// "Host=...;Database=...;Username=...": PostgreSQL (several instances share it).</summary>
    public string Store { get; set; } = "";

    /// <summary>Child runs training at once; the rest wait in the queue in the order they came.</summary>
    public int MaxConcurrentRuns { get; set; } = 2;

    /// <summary>How often run folders (state, reviews, audit) are read into the store.</summary>
    public TimeSpan SyncInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Alert rules (YAML: webhooks and which events go to them); empty: no alerts.</summary>
    public string Notifications { get; set; } = "";

    /// <summary>The morning report's window opens at this local time the day before (default 18:00).</summary>
    public TimeSpan NightStartsAt { get; set; } = TimeSpan.FromHours(18);

    public string ServiceFolder => Path.Combine(Path.GetFullPath(RunsRoot), ".service");
}

/// <summary>Checks <see cref="ServiceOptions"/> at start-up; errors name the option and its key.</summary>
public sealed class ServiceOptionsValidator : IValidateOptions<ServiceOptions>
{
    public ValidateOptionsResult Validate(string? name, ServiceOptions options)
    {
        var errors = new List<string>();
        if (string.IsNullOrWhiteSpace(options.RunsRoot))
        {
            errors.Add("--root (Service:RunsRoot) must name a folder.");
        }
        else if (File.Exists(options.RunsRoot))
        {
            errors.Add($"--root (Service:RunsRoot): {Path.GetFullPath(options.RunsRoot)} is a file, not a folder.");
        }
        if (options.MaxConcurrentRuns is < 1 or > 256)
        {
            errors.Add(Invariant($"--max-runs (Service:MaxConcurrentRuns) must be 1 to 256; got {options.MaxConcurrentRuns}."));
        }
        if (options.SyncInterval < TimeSpan.FromMilliseconds(50) || options.SyncInterval > TimeSpan.FromMinutes(5))
        {
            errors.Add(Invariant($"Service:SyncInterval must be 50 ms to 5 minutes; got {options.SyncInterval}."));
        }
        if (options.NightStartsAt < TimeSpan.Zero || options.NightStartsAt >= TimeSpan.FromDays(1))
        {
            errors.Add(Invariant($"Service:NightStartsAt must be a time of day; got {options.NightStartsAt}."));
        }
        if (!string.IsNullOrWhiteSpace(options.Notifications) && !File.Exists(options.Notifications))
        {
            errors.Add($"--notifications (Service:Notifications): {Path.GetFullPath(options.Notifications)} does not exist.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
