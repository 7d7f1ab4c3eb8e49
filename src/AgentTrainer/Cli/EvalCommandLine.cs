using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using AgentTrainer.App.Hosting;
using AgentTrainer.Core.Records;
using AgentTrainer.Eval;
using AgentTrainer.Eval.Figures;
using AgentTrainer.Eval.Generation;
using AgentTrainer.Eval.Reports;
using AgentTrainer.Eval.Running;
using AgentTrainer.Eval.Suites;
using Spectre.Console;

namespace AgentTrainer.App.Cli;

/// <summary><c>agent-trainer eval</c>: runs a scenario suite (or part of it) against its contestants,
/// in parallel processes, and writes results.csv, report.md and plots into the output folder. Run it
/// again and it reuses every finished run whose settings and inputs are unchanged.</summary>
public static class EvalCommandLine
{
    public static Command Create()
    {
        var scenarios = new Option<string>("--scenarios") { Description = "folder of scenario files (*.yaml)", DefaultValueFactory = _ => "eval/scenarios" };
        var contestants = new Option<string>("--contestants") { Description = "contestants file", DefaultValueFactory = _ => "eval/contestants.yaml" };
        var only = new Option<string[]>("--scenario") { Description = "run only this scenario (repeatable)" };
        var onlyContestants = new Option<string[]>("--contestant") { Description = "run only this contestant (repeatable; the baseline and replayed runs come along)" };
        var output = new Option<string>("--out") { Description = "output folder: results.csv, report.md, plots/, runs/", DefaultValueFactory = _ => "runs/eval" };
        var jobs = new Option<int?>("--jobs") { Description = "runs at a time, each its own process (default: the cores over each run's threads)" };
        var threads = new Option<int>("--threads-per-run") { Description = "CPU threads for each run; 0: the run's own default, all cores (with --decisions pause, results are reproducible per seed and thread count)", DefaultValueFactory = _ => 0 };
        var decisions = new Option<DecisionMode>("--decisions") { Description = "async: as a plain run decides, training going on meanwhile (default); pause: the run waits for each decision (reproducible)", DefaultValueFactory = _ => DecisionMode.Async };
        var generate = new Option<int?>("--generate") { Description = "draw N scenarios from --family instead of reading --scenarios" };
        var family = new Option<string>("--family") { Description = "family file the generated scenarios are drawn from", DefaultValueFactory = _ => "eval/families/default.yaml" };
        var drawSeed = new Option<int>("--seed") { Description = "seed of the draw (the same file, N and seed draw the same scenarios)", DefaultValueFactory = _ => 1 };
        var seeds = new Option<int?>("--seeds") { Description = "use only the first N seeds of each scenario" };
        var overrides = new Option<string[]>("--set") { Description = "KEY=VALUE: a Training: or Agent: configuration key for every run (repeatable)" };
        var scale = new Option<double>("--step-scale") { Description = "scale every step count (0.1: a reduced suite, for CI)", DefaultValueFactory = _ => 1.0 };
        var command = new Command("eval", "Compare agents, prompts and policies on a scenario suite; write results.csv, report.md and plots.")
        {
            scenarios, contestants, only, onlyContestants, output, jobs, threads, decisions, seeds, scale, overrides, generate, family, drawSeed,
        };
        command.SetAction(async (parse, _) =>
        {
            if (parse.GetValue(jobs) is < 1 || parse.GetValue(threads) < 0 || parse.GetValue(seeds) is < 1 || parse.GetValue(generate) is < 1
                || parse.GetValue(scale) is <= 0 or > 1)
            {
                await Console.Error.WriteLineAsync("error: --jobs, --seeds and --generate must be at least 1, --threads-per-run at least 0; --step-scale must be in (0, 1].").ConfigureAwait(false);
                return ExitCodes.InvalidOptions;
            }
            var set = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string pair in parse.GetValue(overrides) ?? [])
            {
                string[] parts = pair.Split('=', 2);
                if (parts.Length != 2 || parts[0].Length == 0)
                {
                    await Console.Error.WriteLineAsync($"error: --set {pair}: expected KEY=VALUE, e.g. --set Agent:DecideEvery=25.").ConfigureAwait(false);
                    return ExitCodes.InvalidOptions;
                }
                set[parts[0]] = parts[1];
            }
            string[] problems = [.. SuiteLoader.SettingProblems("--set", set)];
            if (problems.Length > 0)
            {
                await Console.Error.WriteLineAsync("error: " + string.Join(Environment.NewLine + "error: ", problems)).ConfigureAwait(false);
                return ExitCodes.InvalidOptions;
            }
            Suite suite;
            try
            {
                suite = parse.GetValue(generate) is { } count
                    ? Generated(parse.GetValue(family)!, count, parse.GetValue(drawSeed), parse.GetValue(contestants)!, parse.GetValue(onlyContestants) ?? [])
                    : SuiteLoader.Load(parse.GetValue(scenarios)!, parse.GetValue(contestants)!, parse.GetValue(only) ?? [], parse.GetValue(onlyContestants) ?? []);
            }
            catch (SuiteException error)
            {
                await Console.Error.WriteLineAsync("error: the suite cannot run:" + Environment.NewLine + error.Message).ConfigureAwait(false);
                return ExitCodes.InvalidOptions;
            }
            var settings = new EvalSettings
            {
                OutputFolder = parse.GetValue(output)!, StepScale = parse.GetValue(scale), MaxSeeds = parse.GetValue(seeds), ThreadsPerRun = parse.GetValue(threads),
                Decisions = parse.GetValue(decisions), Overrides = set,
            };
            int runJobs = parse.GetValue(jobs) ?? DefaultJobs(suite, settings.ThreadsPerRun);
            return await RunAsync(suite, settings, runJobs, string.Join(' ', ["agent-trainer", .. parse.Tokens.Select(t => t.Value)])).ConfigureAwait(false);
        });
        return command;
    }

    /// <summary>The scenarios drawn from a family file, with the contestants it names (and the baseline).</summary>
    private static Suite Generated(string familyFile, int count, int seed, string contestantsFile, string[] onlyContestants)
    {
        FamilyFile families = FamilyLoader.Load(familyFile);
        return SuiteLoader.WithScenarios(ScenarioGenerator.Generate(families, count, seed), contestantsFile,
            onlyContestants.Length > 0 ? onlyContestants : [.. families.Contestants]);
    }

    /// <summary>As many runs at a time as the cores hold at each run's threads (a run on all cores: one at a time).</summary>
    private static int DefaultJobs(Suite suite, int threadsPerRun)
    {
        int cores = Environment.ProcessorCount;
        int threads = suite.Scenarios.Select(s => s.Threads ?? threadsPerRun).Select(t => t == 0 ? cores : t).DefaultIfEmpty(cores).Min();
        return Math.Max(1, cores / Math.Max(1, threads));
    }

    private static async Task<int> RunAsync(Suite suite, EvalSettings settings, int jobs, string commandLine)
    {
        IReadOnlyList<RunSpec> plan = RunPlanner.Plan(suite, settings);
        int done = plan.Count(EvalRunner.IsDone);
        Console.WriteLine($"{plan.Count} runs ({suite.Scenarios.Count} scenarios, {suite.Contestants.Count} contestants, oracle grids); "
            + $"{done} already done in {Path.GetFullPath(settings.OutputFolder)}; {Math.Min(jobs, Math.Max(1, plan.Count - done))} at a time.");

        using var cancel = new CancellationTokenSource();
        // Ctrl+C / SIGTERM: stop starting runs and end the ones under way; what finished is kept for the next invocation.
        using PosixSignalRegistration interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => { context.Cancel = true; cancel.Cancel(); });
        using PosixSignalRegistration terminate = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => { context.Cancel = true; cancel.Cancel(); });
        IReadOnlyList<RunResult> results;
        try
        {
            results = await WithProgressAsync(plan.Count, progress => new EvalRunner(new RunCommand(SelfCommand.FileName, SelfCommand.LeadingArguments), jobs, progress)
                .RunAsync(plan, cancel.Token)).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            await Console.Error.WriteLineAsync("interrupted: finished runs are kept; run the same command again to go on.").ConfigureAwait(false);
            return ExitCodes.Interrupted;
        }

        string machine = results.Select(r => RunRecordReader.TryReadSummary(r.Run.Folder)?.Environment).OfType<RunEnvironment>()
            .Select(e => $"{e.Os}, {e.DotNet}, TorchSharp {e.TorchSharp}, {e.Device}").FirstOrDefault() ?? "this machine";
        var context = new ReportContext(suite, commandLine, plan.Count, results.Count(r => r.State == RunState.Reused), settings.StepScale,
            settings.ThreadsPerRun, machine, DateTimeOffset.UtcNow, settings.Decisions);
        EvalOutcome outcome = EvalReport.Write(settings.OutputFolder, context, results);
        foreach (string line in suite.IsGenerated ? outcome.Families.Select(FamilyLine) : outcome.Scenarios.Select(s => s.Verdict))
        {
            Console.WriteLine("- " + line.Replace("**", "", StringComparison.Ordinal));
        }
        Console.WriteLine($"report: {Path.GetFullPath(Path.Combine(settings.OutputFolder, ReportMarkdown.FileName))}");
        int failed = results.Count(r => r.State == RunState.Failed);
        if (failed > 0)
        {
            await Console.Error.WriteLineAsync($"{failed} run(s) failed; see the report and each run's run.log.").ConfigureAwait(false);
            return ExitCodes.Failed;
        }
        return ExitCodes.Success;
    }

    private static string FamilyLine(FamilyRow row) => string.Create(CultureInfo.InvariantCulture,
        $"{row.Family} ({row.Contestant}, {row.Runs} runs): repair rate {Rate(row.RepairRate, row.Repaired, row.Hurt)}, "
        + $"recovery {Format.Number(row.MeanRecovery, 3)}, harm rate {Rate(row.HarmRate, row.Harmed, row.Healthy)}, "
        + $"{Format.Number(row.InterventionsPerRun, 2)} interventions per run");

    private static string Rate(double? rate, int count, int of) =>
        rate is { } r ? string.Create(CultureInfo.InvariantCulture, $"{r * 100:F1}% ({count}/{of})") : "n/a";

    /// <summary>A live progress bar on a terminal; a line per finished run otherwise (CI logs).</summary>
    private static async Task<IReadOnlyList<RunResult>> WithProgressAsync(int total, Func<IEvalProgress, Task<IReadOnlyList<RunResult>>> run)
    {
        if (!AnsiConsole.Profile.Capabilities.Interactive)
        {
            return await run(new LineProgress(total)).ConfigureAwait(false);
        }
        return await AnsiConsole.Progress()
            .AutoClear(false)
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn(), new RemainingTimeColumn(), new SpinnerColumn())
            .StartAsync(async context => await run(new BarProgress(context.AddTask("runs", maxValue: total))).ConfigureAwait(false)).ConfigureAwait(false);
    }

    private static string Describe(RunResult result) => result.State switch
    {
        RunState.Reused => "reused",
        RunState.Failed => "FAILED: " + result.Problem,
        _ => string.Create(CultureInfo.InvariantCulture, $"{result.Seconds:F0} s"),
    };

    private sealed class LineProgress(int total) : IEvalProgress
    {
        private int _finished;

        public void Started(RunSpec run)
        {
        }

        public void Finished(RunResult result)
        {
            int finished = Interlocked.Increment(ref _finished);
            if (result.State != RunState.Reused)
            {
                Console.WriteLine($"[{finished}/{total}] {result.Run.Id}: {Describe(result)}");
            }
        }
    }

    private sealed class BarProgress(ProgressTask bar) : IEvalProgress
    {
        private readonly HashSet<string> _running = [];

        public void Started(RunSpec run) => Update(() => _running.Add(run.Id));

        public void Finished(RunResult result) => Update(() =>
        {
            _running.Remove(result.Run.Id);
            bar.Increment(1);
            if (result.State == RunState.Failed)
            {
                AnsiConsole.MarkupLineInterpolated($"[red]{result.Run.Id}: {Describe(result)}[/]");
            }
        });

        private void Update(Action change)
        {
            lock (_running)
            {
                change();
                bar.Description = _running.Count == 0 ? "runs" : Markup.Escape(string.Join(", ", _running.Order(StringComparer.Ordinal)));
            }
        }
    }
}
