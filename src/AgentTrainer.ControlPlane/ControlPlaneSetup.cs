using AgentTrainer.ControlPlane.Api;
using AgentTrainer.ControlPlane.Live;
using AgentTrainer.ControlPlane.Remote;
using AgentTrainer.ControlPlane.Security;
using AgentTrainer.Core.Records;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Authorization;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.DataProtection;
using Microsoft.AspNetCore.Diagnostics;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.FileProviders;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentTrainer.ControlPlane;

/// <summary>Wires the control plane into a web host: Kestrel on the configured URLs, bearer-token
/// authentication, request guards, problem details, OpenAPI, the API and the dashboard.</summary>
public static partial class ControlPlaneSetup
{
    /// <summary>What starting and stopping runs and sending commands require: the host's bearer token, or a person's
    /// with the role operator or admin.</summary>
    public const string OperatorPolicy = "operator";

    /// <summary>What approving and rejecting proposals requires: a reviewer's token or better.</summary>
    public const string ReviewerPolicy = "reviewer";

    /// <summary>What managing people's tokens requires: an admin's token (or the host's).</summary>
    public const string AdminPolicy = "admin";

    /// <summary>What the trainer protocol requires: a token, the host's or a run's (each run's endpoints check
    /// which run).</summary>
    public const string TrainerPolicy = "trainer";

    /// <summary>What reading requires: nothing on loopback, a token (a viewer's or better) when listening beyond it.</summary>
    public const string ReaderPolicy = "reader";

    /// <summary>The run's observers and state the API needs; registered whether or not the API is served.</summary>
    public static IServiceCollection AddRunMonitoring(this IServiceCollection services)
    {
        services.AddSingleton<ActiveRun>();
        services.AddSingleton<LiveStream>();
        services.AddSingleton<RunMonitor>();
        services.AddSingleton<IRunObserver>(provider => provider.GetRequiredService<RunMonitor>());
        return services;
    }

    public static WebApplicationBuilder AddControlPlane(this WebApplicationBuilder builder)
    {
        IServiceCollection services = builder.Services;
        ControlPlaneOptions settings = builder.Configuration.GetSection(ControlPlaneOptions.Section).Get<ControlPlaneOptions>() ?? new ControlPlaneOptions();
        builder.WebHost.UseUrls(settings.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.MaxRequestBodySize = settings.MaxRequestBodyBytes;
        });

        services.AddSingleton<ApiToken>();
        services.AddHostedService<ControlPlaneAnnouncer>();
        services.AddDataProtection().UseEphemeralDataProtectionProvider(); // nothing of ours is protected: keep no key ring on disk
        services.AddAuthentication(BearerTokenHandler.SchemeName).AddScheme<AuthenticationSchemeOptions, BearerTokenHandler>(BearerTokenHandler.SchemeName, null);
        bool readsOpen = settings.ParsedUrls().All(ControlPlaneOptionsValidator.IsLoopback);
        services.AddAuthorizationBuilder()
            .AddPolicy(OperatorPolicy, policy => policy.RequireRole(PersonRoles.Name(PersonRole.Operator)))
            .AddPolicy(ReviewerPolicy, policy => policy.RequireRole(PersonRoles.Name(PersonRole.Reviewer)))
            .AddPolicy(AdminPolicy, policy => policy.RequireRole(PersonRoles.Name(PersonRole.Admin)))
            .AddPolicy(TrainerPolicy, policy => policy.RequireAuthenticatedUser())
            .AddPolicy(ReaderPolicy, policy =>
            {
                if (readsOpen)
                {
                    policy.RequireAssertion(_ => true);
                }
                else
                {
                    policy.RequireRole(PersonRoles.Name(PersonRole.Viewer));
                }
            });
        services.AddSingleton<IValidateOptions<RemoteOptions>, RemoteOptionsValidator>();
        services.AddOptions<RemoteOptions>().Bind(builder.Configuration.GetSection(RemoteOptions.Section)).ValidateOnStart();
        services.TryAddSingleton(TimeProvider.System);
        services.AddHttpClient(); // the agent's model client for remote runs (the host may have configured it already)
        services.AddSingleton<RemoteRuns>();
        services.AddHostedService<RemoteRunWatchdog>();
        services.AddCors(cors => cors.AddDefaultPolicy(policy => policy.WithOrigins([.. settings.AllowedOrigins]).AllowAnyHeader().AllowAnyMethod()));
        services.AddHostFiltering(hosts =>
        {
            hosts.AllowedHosts = [.. settings.EffectiveAllowedHosts()];
            hosts.AllowEmptyHosts = false;
        });
        services.AddProblemDetails();
        services.AddExceptionHandler<UnexpectedErrorHandler>();
        services.ConfigureHttpJsonOptions(json => ApiJson.Apply(json.SerializerOptions));
        // The document names no server: echoing the request's Host back would hand any name a client sends to readers.
        services.AddOpenApi(openApi => openApi.AddDocumentTransformer((document, _, _) =>
        {
            document.Servers?.Clear();
            return Task.CompletedTask;
        }));
        return builder;
    }

    public static WebApplication UseControlPlane(this WebApplication app)
    {
        app.UseHostFiltering(); // a Host header this API does not answer to (DNS rebinding) gets 400 before anything else
        app.UseExceptionHandler();
        app.UseStatusCodePages();
        app.UseMiddleware<OriginGuard>();
        app.UseCors();
        var dashboard = new PhysicalFileProvider(Path.Combine(AppContext.BaseDirectory, "wwwroot"));
        app.UseDefaultFiles(new DefaultFilesOptions { FileProvider = dashboard });
        app.UseStaticFiles(new StaticFileOptions { FileProvider = dashboard });
        app.UseRouting();
        app.UseAuthentication();
        app.UseAuthorization();
        app.UseMiddleware<BodyLimitGuard>();
        app.MapOpenApi();

        RouteGroupBuilder api = app.MapGroup("/api").RequireAuthorization(ReaderPolicy).WithTags("AgentTrainer");
        RunApi.Map(api);
        CommandApi.Map(api);
        ReviewApi.Map(api);
        AuditApi.Map(api);
        StreamApi.Map(api);
        TrainerProtocolApi.Map(app);
        return app;
    }

    /// <summary>The addresses the started server listens on (the real port where the URL said 0).</summary>
    public static IReadOnlyList<string> ServerAddresses(this IServiceProvider services) =>
        [.. services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()?.Addresses ?? []];

    /// <summary>An unexpected failure becomes a 500 problem without internals; the log has them, under the
    /// correlation id the problem names (also in the X-Correlation-Id header), so one can be found from the other.</summary>
    private sealed partial class UnexpectedErrorHandler(ILogger<UnexpectedErrorHandler> logger) : IExceptionHandler
    {
        public async ValueTask<bool> TryHandleAsync(HttpContext context, Exception exception, CancellationToken cancellationToken)
        {
            if (exception is BadHttpRequestException bad)
            {
                await ApiProblems.Write(context, bad.StatusCode, "Bad request", bad.Message).ConfigureAwait(false);
                return true;
            }
            string correlation = context.TraceIdentifier;
            LogFailure(logger, exception, context.Request.Method, context.Request.Path, correlation);
            context.Response.Headers["X-Correlation-Id"] = correlation;
            await ApiProblems.Write(context, StatusCodes.Status500InternalServerError, "Internal error",
                $"The request failed; the host's log has the details under correlation id {correlation}.").ConfigureAwait(false);
            return true;
        }

        [LoggerMessage(Level = LogLevel.Error, Message = "{Method} {Path} failed (correlation id {CorrelationId})")]
        private static partial void LogFailure(ILogger logger, Exception exception, string method, string path, string correlationId);
    }
}
