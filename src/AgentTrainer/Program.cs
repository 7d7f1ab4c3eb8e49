using System.CommandLine;
using AgentTrainer.App.Bench;
using AgentTrainer.App.Cli;
using AgentTrainer.App.Hosting;

var root = new RootCommand("AgentTrainer: neural-network training that corrects itself.")
{
    RunCommandLine.Create(),
    BenchCommandLine.Create(),
    ReviewCommandLine.Create(),
    CommandCommandLine.Create(),
    WatchCommandLine.Create(),
    EvalCommandLine.Create(),
};
foreach (Command command in ServiceCommandLine.Create())
{
    root.Subcommands.Add(command);
}
ParseResult parse = root.Parse(args);
if (parse.Errors.Count > 0)
{
    foreach (System.CommandLine.Parsing.ParseError error in parse.Errors)
    {
        await Console.Error.WriteLineAsync($"error: {error.Message}");
    }
    await Console.Error.WriteLineAsync("Run 'agent-trainer [command] --help' for the options.");
    return ExitCodes.InvalidOptions;
}
// The Generic Host handles Ctrl+C and SIGTERM (cancel the run, checkpoint, exit); System.CommandLine must not.
return await parse.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
