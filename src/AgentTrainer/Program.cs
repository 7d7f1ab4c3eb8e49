using System.CommandLine;
using AgentTrainer.App.Bench;
using AgentTrainer.App.Cli;

var root = new RootCommand("AgentTrainer: neural-network training that corrects itself.")
{
    RunCommandLine.Create(),
    BenchCommandLine.Create(),
};
// The Generic Host handles Ctrl+C and SIGTERM (cancel the run, checkpoint, exit); System.CommandLine must not.
return await root.Parse(args).InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
