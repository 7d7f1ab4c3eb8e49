using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentTrainer.ControlPlane.Remote;

/// <summary>Once a second, ends the session of every trainer that fell silent (see <see cref="RemoteRuns"/>).</summary>
public sealed partial class RemoteRunWatchdog(RemoteRuns runs, TimeProvider time, ILogger<RemoteRunWatchdog> logger)
    : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                try
                {
                    await runs.EndSilentSessionsAsync().ConfigureAwait(false);
                }
#pragma warning disable CA1031 // one failed round is logged; the host and the other runs go on, the next round tries again
                catch (Exception error) when (error is not OperationCanceledException)
#pragma warning restore CA1031
                {
                    LogFailed(logger, error);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // the host stops
        }
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "Looking for silent trainers failed")]
    private static partial void LogFailed(ILogger logger, Exception error);
}
