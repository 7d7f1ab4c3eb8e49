using AgentTrainer.ControlPlane;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.Extensions.Logging;

namespace AgentTrainer.App.Bench;

/// <summary>Starts a quiet Kestrel server on a free loopback port with the given routes.</summary>
public static class LoopbackHttpServer
{
    public static async Task<(WebApplication App, Uri Address)> StartAsync(Action<WebApplication> map)
    {
        WebApplicationBuilder builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        builder.WebHost.UseUrls("http://127.0.0.1:0");
        WebApplication app = builder.Build();
        map(app);
        await app.StartAsync().ConfigureAwait(false);
        return (app, new Uri(app.Services.ServerAddresses()[0]));
    }
}
