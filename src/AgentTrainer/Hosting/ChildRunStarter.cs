using System.Diagnostics;
using AgentTrainer.Agents;
using AgentTrainer.Core.Options;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Options;
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
            // The agent's settings as the run checks them at its start (its provider, resilience, the policy file found
            // as the run finds it): a run refused there is refused here, before it is queued.
            AgentOptions agent = settings.GetSection(AgentOptions.Section).Get<AgentOptions>() ?? new AgentOptions();
            ValidateOptionsResult checkedAgent = new AgentOptionsValidator().Validate(null, agent);
            return checkedAgent.Failed ? [.. checkedAgent.Failures] : [];
        }
        catch (ConfigurationProblemsException error)
        {
            return error.Problems;
        }
    }
}
