using System.CommandLine;
using AgentTrainer.ControlPlane;

namespace AgentTrainer.App.Cli;

/// <summary>The options every command that talks to a running host shares.</summary>
public sealed class ApiOptions
{
    public Option<string> Url { get; } = new("--url")
    {
        Description = "the running host's API",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("AGENTTRAINER_URL") ?? ControlPlaneOptions.DefaultUrls,
    };

    public Option<string?> Token { get; } = new("--token") { Description = "bearer token (default: AGENTTRAINER_TOKEN, else the host's token file)" };

    public void AddTo(Command command)
    {
        command.Options.Add(Url);
        command.Options.Add(Token);
    }

    public ControlPlaneClient Connect(ParseResult parse) => ControlPlaneClient.Create(parse.GetValue(Url)!, parse.GetValue(Token));

    /// <summary>Runs an action against the host, turning connection and API errors into a message and exit code 2.</summary>
    public static async Task<int> Guard(Func<Task<int>> action)
    {
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (Exception error) when (error is ControlPlaneClientException or InvalidOperationException or UriFormatException)
        {
            await Console.Error.WriteLineAsync($"error: {error.Message}").ConfigureAwait(false);
            return Hosting.ExitCodes.InvalidOptions;
        }
    }
}
