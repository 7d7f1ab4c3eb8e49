using System.Diagnostics;
using AgentTrainer.Agents;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Policies;
using Microsoft.Extensions.Configuration;
using AgentTrainer.Service.Runs;

namespace AgentTrainer.App.Hosting;

/// <summary>The service's runs are <c>agent-trainer run</c> processes of this same build, without an API of their
/// own (the service is their API); their settings are checked as a run checks them, before they are queued.</summary>
public sealed class ChildRunStarter : IRunStarter
{
    /// <summary>A run is its settings and the embedded defaults: the service's own settings by environment (its
    /// port, its runs root) are not the run's, so they are not handed down.</summary>
    public ProcessStartInfo StartInfo(string settingsFile, string folder, bool continueRun)
    {
        ProcessStartInfo start = SelfCommand.StartInfo(
            ["run", "--config", settingsFile, "--out", folder, "--api", "false", .. continueRun ? ["--resume"] : (string[])[]]);
        foreach (string inherited in start.Environment.Keys
                     .Where(key => key.StartsWith(RunConfiguration.EnvironmentPrefix, StringComparison.Ordinal)).ToList())
        {
            start.Environment.Remove(inherited);
        }
        return start;
    }

    public IReadOnlyList<string> Problems(string settingsFile, string folder)
    {
        try
        {
            IConfigurationRoot settings = RunConfiguration.Load(
                new Dictionary<string, string?> { [$"{TrainingOptions.Section}:{nameof(TrainingOptions.Out)}"] = folder },
                settingsFile);
            string? policy = settings[$"{AgentOptions.Section}:{nameof(AgentOptions.Policy)}"];
            if (!string.IsNullOrEmpty(policy))
            {
                PolicyLoader.Load(policy); // a policy that cannot be read fails the run at its start: say so now
            }
            return [];
        }
        catch (ConfigurationProblemsException error)
        {
            return error.Problems;
        }
        catch (PolicyException error)
        {
            return [$"Agent:Policy: {error.Message}"];
        }
    }
}
