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
        var rounds = new Option<int>("--rounds") { Description = "interleaved rounds (the first is warm-up)", DefaultValueFactory = _ => 6 };
        var steps = new Option<int>("--steps-per-round") { Description = "steps per round for each loop", DefaultValueFactory = _ => 40 };
        var latencySteps = new Option<int>("--latency-steps") { Description = "steps during which commands are sent", DefaultValueFactory = _ => 100 };
        var threads = new Option<int>("--threads") { Description = "CPU threads; 0: all cores", DefaultValueFactory = _ => 0 };
        var text = new Option<string>("--text") { Description = "char-lm corpus", DefaultValueFactory = _ => "/usr/share/games/fortunes" };
        var command = new Command("bench", "Measure the interactive trainer's overhead, rollback cost and command latency.")
        {
            output, rounds, steps, latencySteps, threads, text,
        };
        command.Validators.Add(result =>
        {
            if (result.GetValue(rounds) < 2)
            {
                result.AddError("--rounds must be at least 2 (the first round is warm-up).");
            }
            if (result.GetValue(steps) < 1 || result.GetValue(latencySteps) < 1)
            {
                result.AddError("--steps-per-round and --latency-steps must be at least 1.");
            }
        });
        command.SetAction(parse =>
        {
            var settings = new BenchSettings(parse.GetValue(rounds), parse.GetValue(steps), parse.GetValue(latencySteps),
                parse.GetValue(threads), Seed: 1, parse.GetValue(text)!);
            BenchFigures figures = new TrainerBenchmark(settings, Console.WriteLine).Run();
            string json = JsonSerializer.Serialize(figures, RunJson.Indented);
            File.WriteAllText(parse.GetValue(output)!, json);
            Console.WriteLine(json);
            return 0;
        });
        return command;
    }
}
