using AgentTrainer.Agents;
using AgentTrainer.ControlPlane;
using AgentTrainer.ControlPlane.Remote;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Training.Loops;
using AgentTrainer.Training.Tasks;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentTrainer.App.Hosting;

/// <summary>Builds the host for a run: a web host (Kestrel, API, dashboard) when the control plane is
/// on, a plain Generic Host when it is off; the run's services are the same in both. The settings are
/// <see cref="RunConfiguration"/>'s, checked before the host is built.</summary>
public static class AgentTrainerHost
{
    /// <param name="configureWeb">last changes to the web host before it is built (tests: an in-memory server)</param>
    /// <param name="configureApp">endpoints to add beside the control plane's (the service's)</param>
    /// <exception cref="ConfigurationProblemsException">the settings cannot be used</exception>
    public static IHost Build(IEnumerable<KeyValuePair<string, string?>> commandLine, string? configFile,
        Action<WebApplicationBuilder>? configureWeb = null, Action<WebApplication>? configureApp = null)
    {
        IConfigurationRoot settings = RunConfiguration.Load(commandLine, configFile);
        if (!settings.GetValue($"{ControlPlaneOptions.Section}:{nameof(ControlPlaneOptions.Enabled)}", true))
        {
            HostApplicationBuilder plain = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
            {
                DisableDefaults = true,
                ContentRootPath = AppContext.BaseDirectory,
            });
            plain.Configuration.AddConfiguration(settings);
            AddRunServices(plain);
            return plain.Build();
        }

        WebApplicationBuilder web = WebApplication.CreateBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory });
        web.Configuration.Sources.Clear(); // the same sources and precedence as the plain host, not ASP.NET Core's defaults
        web.Configuration.AddConfiguration(settings);
        web.Logging.ClearProviders();
        AddRunServices(web);
        web.AddControlPlane();
        configureWeb?.Invoke(web);
        WebApplication app = web.Build();
        app.UseControlPlane();
        configureApp?.Invoke(app);
        return app;
    }

    private static void AddRunServices(IHostApplicationBuilder builder)
    {
        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss ";
        });

        IServiceCollection services = builder.Services;
        AddOwnTasks(services, builder.Configuration);
        services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromMinutes(1));
        services.AddSingleton<IHostLifetime, ConsoleLifetime>();
        services.Configure<ConsoleLifetimeOptions>(lifetime => lifetime.SuppressStatusMessages = true);
        services.AddSingleton(TimeProvider.System);
        services.AddSingleton<CommandQueue>();
        // The model's HTTP client: pooled handlers from the factory; Polly (ModelCallPipeline) owns timeouts and
        // retries, and the factory's request logging is off (a model call is in the audit log already).
        services.AddHttpClient(AgentFactory.ModelHttpClient).ConfigureHttpClient(AgentFactory.ConfigureModelHttpClient).RemoveAllLoggers();
        services.AddSingleton<TaskCatalog>();
        services.AddSingleton(provider => provider.GetRequiredService<TaskCatalog>().OwnNames);
        services.AddSingleton<IValidateOptions<TrainingOptions>, TrainingOptionsValidator>();
        services.AddOptions<TrainingOptions>().Bind(builder.Configuration.GetSection(TrainingOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<AgentOptions>, AgentOptionsValidator>();
        services.AddOptions<AgentOptions>().Bind(builder.Configuration.GetSection(AgentOptions.Section)).ValidateOnStart();
        services.AddSingleton<IValidateOptions<ControlPlaneOptions>, ControlPlaneOptionsValidator>();
        services.AddOptions<ControlPlaneOptions>().Bind(builder.Configuration.GetSection(ControlPlaneOptions.Section)).ValidateOnStart();
        services.AddSingleton<ConsoleProgress>();
        services.AddSingleton<IRunObserver>(provider => provider.GetRequiredService<ConsoleProgress>());
        services.AddRunMonitoring();
        if (builder.Configuration.GetValue($"{RemoteOptions.Section}:{nameof(RemoteOptions.Enabled)}", false))
        {
            // Trainers attach over the protocol (RemoteRuns); the host trains nothing and runs until stopped.
            services.AddSingleton(new RunExit { Code = ExitCodes.Success });
        }
        else
        {
            services.AddSingleton<RunExit>();
            services.AddHostedService<TrainingService>();
        }
    }

    /// <summary>The tasks of <c>--task-assembly</c>, beside any the embedding host registered itself.</summary>
    /// <exception cref="ConfigurationProblemsException">the assembly cannot be used</exception>
    private static void AddOwnTasks(IServiceCollection services, IConfiguration configuration)
    {
        string? assembly = configuration[$"{TrainingOptions.Section}:{nameof(TrainingOptions.TaskAssembly)}"];
        if (string.IsNullOrEmpty(assembly))
        {
            return;
        }
        try
        {
            (IReadOnlyList<ITrainingTaskProvider> tasks, IReadOnlyList<ITrainingLoopProvider> loops) =
                TaskCatalog.LoadAssembly(assembly);
            foreach (ITrainingTaskProvider task in tasks)
            {
                services.AddTrainingTask(task);
            }
            foreach (ITrainingLoopProvider loop in loops)
            {
                services.AddTrainingLoop(loop);
            }
        }
        catch (RunOptionsException error)
        {
            throw new ConfigurationProblemsException([error.Message]);
        }
    }
}
