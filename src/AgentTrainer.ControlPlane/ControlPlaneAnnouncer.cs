using AgentTrainer.ControlPlane.Security;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentTrainer.ControlPlane;

/// <summary>At start-up: makes sure the API token exists (a first start generates and shows it), and
/// once the server listens, says where (the real port when the URL asked for port 0).</summary>
public sealed class ControlPlaneAnnouncer(ApiToken token, IServiceProvider services, IHostApplicationLifetime lifetime, ILogger<ControlPlaneAnnouncer> logger) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        lifetime.ApplicationStarted.Register(() =>
        {
            string addresses = string.Join(", ", services.ServerAddresses());
            logger.LogInformation("Dashboard and API listening on {Addresses} (OpenAPI: /openapi/v1.json); API token from {TokenOrigin}", addresses, token.Origin);
        });
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
