using Microsoft.Extensions.Options;
using static System.FormattableString;

namespace AgentTrainer.ControlPlane.Remote;

/// <summary>Trainers in other processes (section Remote): whether this host waits for them instead of training
/// itself (<c>run --remote</c>), how long a silent trainer has before its run is lost, how long a command poll
/// waits, and how many items a report batch may hold. Each trainer's run lands in Training:Out/NAME.</summary>
public sealed class RemoteOptions
{
    public const string Section = "Remote";

    public bool Enabled { get; set; }

    /// <summary>A trainer that says nothing for this long (no report, no poll) is lost: its commands fail.</summary>
    public TimeSpan LostAfter { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How long a command poll waits when no command is owed (a long poll); unset: a third of
    /// <see cref="LostAfter"/>, at most 20 seconds.</summary>
    public TimeSpan? PollWait { get; set; }

    public TimeSpan EffectivePollWait =>
        PollWait ?? TimeSpan.FromTicks(Math.Min(TimeSpan.FromSeconds(20).Ticks, LostAfter.Ticks / 3));

    public int MaxBatchItems { get; set; } = 200;
}

/// <summary>Checks <see cref="RemoteOptions"/> at start-up; errors name the option and its key.</summary>
public sealed class RemoteOptionsValidator(IOptions<ControlPlaneOptions> controlPlane) : IValidateOptions<RemoteOptions>
{
    public ValidateOptionsResult Validate(string? name, RemoteOptions options)
    {
        var errors = new List<string>();
        if (options.Enabled && !controlPlane.Value.Enabled)
        {
            errors.Add("--remote (Remote:Enabled) needs the API: trainers attach over it; drop --api false.");
        }
        if (options.LostAfter < TimeSpan.FromSeconds(1))
        {
            errors.Add(Invariant(
                $"--lost-after (Remote:LostAfter) must be at least 1 second; got {options.LostAfter}."));
        }
        if (options.PollWait is { } wait && (wait <= TimeSpan.Zero || wait >= options.LostAfter))
        {
            errors.Add(Invariant($"Remote:PollWait must be above 0 and below Remote:LostAfter ({options.LostAfter}); ")
                + Invariant($"got {options.PollWait}."));
        }
        if (options.MaxBatchItems is < 1 or > 10_000)
        {
            errors.Add(Invariant($"Remote:MaxBatchItems must be between 1 and 10000; got {options.MaxBatchItems}."));
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}
