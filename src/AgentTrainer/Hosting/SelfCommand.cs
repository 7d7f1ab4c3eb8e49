using System.Diagnostics;

namespace AgentTrainer.App.Hosting;

/// <summary>How this agent-trainer process starts another of itself (benchmark clients, eval runs):
/// through the dotnet host with the entry assembly, or the apphost directly.</summary>
public static class SelfCommand
{
    public static string FileName => Environment.ProcessPath!;

    public static IReadOnlyList<string> LeadingArguments =>
        Path.GetFileNameWithoutExtension(FileName) == "dotnet" ? [typeof(SelfCommand).Assembly.Location] : [];

    public static ProcessStartInfo StartInfo(IEnumerable<string> arguments)
    {
        var start = new ProcessStartInfo(FileName);
        foreach (string argument in LeadingArguments.Concat(arguments))
        {
            start.ArgumentList.Add(argument);
        }
        return start;
    }
}
