using AgentTrainer.ControlPlane.Security;
using AgentTrainer.Service.Alerts;
using AgentTrainer.Service.Api;
using AgentTrainer.Service.Audit;
using AgentTrainer.Service.Inbox;
using AgentTrainer.Service.People;
using AgentTrainer.Service.Reports;
using AgentTrainer.Service.Runs;
using AgentTrainer.Service.Store;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace AgentTrainer.Service;

/// <summary>Wires the service into a control-plane host (<c>agent-trainer serve</c>): its options, store, runs
/// index and folder sync, launcher, inbox, people's tokens, alerts and report, and its API.</summary>
public static class ServiceSetup
{
    public static WebApplicationBuilder AddRunService(this WebApplicationBuilder builder)
    {
        IServiceCollection services = builder.Services;
        services.AddSingleton<IValidateOptions<ServiceOptions>, ServiceOptionsValidator>();
        services.AddOptions<ServiceOptions>().Bind(builder.Configuration.GetSection(ServiceOptions.Section)).ValidateOnStart();
        services.AddSingleton(provider =>
        {
            ServiceOptions options = provider.GetRequiredService<IOptions<ServiceOptions>>().Value;
            return ServiceStore.Open(options.Store, Path.Combine(options.ServiceFolder, "service.db"));
        });
        services.AddSingleton(provider =>
        {
            string rules = provider.GetRequiredService<IOptions<ServiceOptions>>().Value.Notifications;
            return string.IsNullOrWhiteSpace(rules) ? NotificationRules.None : NotificationRulesLoader.Load(rules);
        });
        services.AddSingleton<RunIndex>();
        services.AddSingleton<ServiceAudit>();
        services.AddSingleton<ReviewInbox>();
        services.AddSingleton<PersonTokens>();
        services.AddSingleton<IPersonDirectory>(provider => provider.GetRequiredService<PersonTokens>());
        services.AddSingleton<MorningReport>();
        services.AddSingleton<Notifier>();
        services.AddHostedSingleton<WebhookSender>();
        services.AddHostedSingleton<RunLauncher>();
        services.AddHostedSingleton<RunFolderSync>();
        // Polly owns the webhooks' timeouts and retries; the client's own timeout would cut across them.
        services.AddHttpClient(WebhookSender.HttpClientName)
            .ConfigureHttpClient(client => client.Timeout = Timeout.InfiniteTimeSpan)
            .RemoveAllLoggers();
        return builder;
    }

    public static WebApplication MapRunService(this WebApplication app)
    {
        ServiceApi.Map(app);
        return app;
    }

    private static void AddHostedSingleton<T>(this IServiceCollection services)
        where T : class, Microsoft.Extensions.Hosting.IHostedService
    {
        services.AddSingleton<T>();
        services.AddHostedService(provider => provider.GetRequiredService<T>());
    }
}
