using Microsoft.Extensions.Hosting;

namespace AgentTrainer.ControlPlane.Remote;

/// <summary>Once a second, ends the session of every trainer that fell silent (see <see cref="RemoteRuns"/>).</summary>
public sealed class RemoteRunWatchdog(RemoteRuns runs, TimeProvider time) : BackgroundService
{
    private static readonly TimeSpan Interval = TimeSpan.FromSeconds(1);

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(Interval, time);
        try
        {
            while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false))
            {
                await runs.EndSilentSessionsAsync().ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException)
        {
            // the host stops
        }
    }
}
