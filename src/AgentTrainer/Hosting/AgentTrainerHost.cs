using AgentTrainer.Agents;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Hosting.Internal;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentTrainer.App.Hosting;

/// <summary>Builds the Generic Host for a run. Configuration, lowest to highest precedence:
/// appsettings.json beside the binary (the embedded defaults), an optional --config file,
/// AGENTTRAINER_-prefixed environment variables (AGENTTRAINER_Training__Steps=100), command-line options.</summary>
public static class AgentTrainerHost
{
    public const string EnvironmentPrefix = "AGENTTRAINER_";

    public static HostApplicationBuilder CreateBuilder(IEnumerable<KeyValuePair<string, string?>> commandLine, string? configFile)
    {
        var builder = Host.CreateApplicationBuilder(new HostApplicationBuilderSettings
        {
            DisableDefaults = true,
            ContentRootPath = AppContext.BaseDirectory,
        });
        builder.Configuration.AddJsonFile(Path.Combine(AppContext.BaseDirectory, "appsettings.json"), optional: false);
        if (configFile is not null)
        {
            builder.Configuration.AddJsonFile(Path.GetFullPath(configFile), optional: false);
        }
        builder.Configuration.AddEnvironmentVariables(EnvironmentPrefix);
        builder.Configuration.AddInMemoryCollection(commandLine);

        builder.Logging.AddConfiguration(builder.Configuration.GetSection("Logging"));
        builder.Logging.AddSimpleConsole(console =>
        {
            console.SingleLine = true;
            console.TimestampFormat = "HH:mm:ss ";
        });

        builder.Services.Configure<HostOptions>(host => host.ShutdownTimeout = TimeSpan.FromMinutes(1));
        builder.Services.AddSingleton<IHostLifetime, ConsoleLifetime>();
        builder.Services.Configure<ConsoleLifetimeOptions>(lifetime => lifetime.SuppressStatusMessages = true);
        builder.Services.AddSingleton(TimeProvider.System);
        builder.Services.AddSingleton<CommandQueue>();
        builder.Services.AddSingleton<IValidateOptions<TrainingOptions>, TrainingOptionsValidator>();
        builder.Services.AddOptions<TrainingOptions>()
            .Bind(builder.Configuration.GetSection(TrainingOptions.Section))
            .ValidateOnStart();
        builder.Services.AddSingleton<IValidateOptions<AgentOptions>, AgentOptionsValidator>();
        builder.Services.AddOptions<AgentOptions>()
            .Bind(builder.Configuration.GetSection(AgentOptions.Section))
            .ValidateOnStart();
        builder.Services.AddSingleton<ConsoleProgress>();
        builder.Services.AddSingleton<RunExit>();
        builder.Services.AddHostedService<TrainingService>();
        return builder;
    }
}
