using System.CommandLine;
using System.Text.Json;
using AgentTrainer.Core.Records;

namespace AgentTrainer.App.Bench;

/// <summary><c>agent-trainer bench --out FILE</c>: runs the benchmarks and writes their figures as JSON.</summary>
public static class BenchCommandLine
{
    public static Command Create()
    {
        var output = new Option<string>("--out") { Description = "JSON file for the figures", DefaultValueFactory = _ => "bench.json" };
        var steps = new Option<int>("--steps") { Description = "measured steps of each loop (bare and interactive), alternating", DefaultValueFactory = _ => 300 };
        var warmup = new Option<int>("--warmup-steps") { Description = "unmeasured steps first", DefaultValueFactory = _ => 20 };
        var latencySteps = new Option<int>("--latency-steps") { Description = "steps during which commands are sent", DefaultValueFactory = _ => 100 };
        var threads = new Option<int>("--threads") { Description = "CPU threads; 0: all cores", DefaultValueFactory = _ => 0 };
        var text = new Option<string>("--text") { Description = "char-lm corpus", DefaultValueFactory = _ => "/usr/share/games/fortunes" };
        var python = new Option<string>("--python")
        {
            Description = "the Python with torch that runs the PyTorch example", DefaultValueFactory = _ => "/usr/bin/python3",
        };
        var only = new Option<string?>("--only")
        {
            Description = "run one benchmark: service (service_overhead_ratio, replaying trainers at --replay-ms-per-step)",
        };
        only.AcceptOnlyFromAmong("service");
        var replayMsPerStep = new Option<double>("--replay-ms-per-step")
        {
            Description = "with --only service: the replayed trainers' step time", DefaultValueFactory = _ => 95,
        };
        var command = new Command("bench", "Measure the interactive trainer's overhead, rollback cost, command latency, agent, live-stream and "
            + "trainer-protocol overhead, and TorchSharp against PyTorch.")
        {
            output, steps, warmup, latencySteps, threads, text, python, only, replayMsPerStep,
        };
        command.Subcommands.Add(StreamClientsProcess.Create());
        command.SetAction(parse =>
        {
            if (parse.GetValue(steps) < 1 || parse.GetValue(warmup) < 0 || parse.GetValue(latencySteps) < 1)
            {
                Console.Error.WriteLine("error: --steps and --latency-steps must be at least 1, --warmup-steps at least 0.");
                return Hosting.ExitCodes.InvalidOptions;
            }
            var settings = new BenchSettings(parse.GetValue(steps), parse.GetValue(warmup), parse.GetValue(latencySteps),
                parse.GetValue(threads), Seed: 1, parse.GetValue(text)!);
            object figures = parse.GetValue(only) is null
                ? new TrainerBenchmark(settings, parse.GetValue(python)!, Console.WriteLine).Run()
                : new ServiceBenchmark(settings, Console.WriteLine).Run(parse.GetValue(replayMsPerStep));
            string json = JsonSerializer.Serialize(figures, figures.GetType(), RunJson.Indented);
            File.WriteAllText(parse.GetValue(output)!, json);
            Console.WriteLine(json);
            return 0;
        });
        return command;
    }
}
