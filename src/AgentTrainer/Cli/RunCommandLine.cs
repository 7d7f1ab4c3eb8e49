using System.CommandLine;
using System.Globalization;
using AgentTrainer.App.Hosting;
using AgentTrainer.Core.Options;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Options;

namespace AgentTrainer.App.Cli;

/// <summary><c>agent-trainer run</c>: every option maps onto one configuration key, so the command
/// line, environment variables and appsettings.json are three ways to say the same thing.</summary>
public static class RunCommandLine
{
    private static readonly (Option Option, string Key)[] Settings =
    [
        (new Option<string>("--task") { Description = "fashion-mnist, char-lm or synthetic" }, "Training:Task"),
        (new Option<string>("--model") { Description = "fashion-mnist: mlp or cnn; char-lm: gpt; synthetic: mlp" }, "Training:Model"),
        (new Option<int?>("--steps") { Description = "optimisation steps" }, "Training:Steps"),
        (new Option<long?>("--max-trained-steps") { Description = "the most steps the run may train in all, rollbacks included; 0: twice --steps" },
            "Training:MaxTrainedSteps"),
        (new Option<string>("--deadline") { Description = "when the run must be done: 07:00 (the next one) or 2026-11-27T07:00+01:00" },
            "Training:Deadline"),
        (new Option<bool?>("--load-best-at-end") { Description = "hand back the best model at the end (default: when an agent supervises)" },
            "Training:LoadBestAtEnd"),
        (new Option<string>("--task-assembly") { Description = "a built .NET assembly with your own tasks (ITrainingTaskProvider); --task names one" },
            "Training:TaskAssembly"),
        (new Option<int?>("--batch-size") { Description = "examples (sequences) per step; 0: the task's default" }, "Training:BatchSize"),
        (new Option<double?>("--lr") { Description = "base learning rate" }, "Training:LearningRate"),
        (new Option<string>("--optimizer") { Description = "adamw or sgd" }, "Training:Optimizer"),
        (new Option<double?>("--weight-decay") { Description = "weight decay" }, "Training:WeightDecay"),
        (new Option<double?>("--momentum") { Description = "SGD momentum" }, "Training:Momentum"),
        (new Option<string>("--schedule") { Description = "constant, linear or cosine" }, "Training:Schedule"),
        (new Option<int?>("--warmup-steps") { Description = "linear warm-up steps" }, "Training:WarmupSteps"),
        (new Option<double?>("--grad-clip") { Description = "gradient-norm clipping threshold; 0: off" }, "Training:GradClip"),
        (new Option<int?>("--seed") { Description = "random seed" }, "Training:Seed"),
        (new Option<int?>("--threads") { Description = "CPU threads; 0: all cores" }, "Training:Threads"),
        (new Option<string>("--device") { Description = "auto, cpu or cuda" }, "Training:Device"),
        (new Option<int?>("--eval-every") { Description = "evaluate every N steps" }, "Training:EvalEvery"),
        (new Option<int?>("--eval-batches") { Description = "validation batches per evaluation; 0: all" }, "Training:EvalBatches"),
        (new Option<int?>("--log-every") { Description = "write a metrics line every N steps" }, "Training:LogEvery"),
        (new Option<int?>("--snapshot-every") { Description = "in-memory checkpoint every N steps; 0: none" }, "Training:SnapshotEvery"),
        (new Option<int?>("--snapshots-kept") { Description = "in-memory checkpoints kept" }, "Training:SnapshotsKept"),
        (new Option<int?>("--checkpoint-every") { Description = "disk checkpoint every N steps; 0: only at the end and on request" }, "Training:CheckpointEvery"),
        (new Option<int?>("--checkpoints-kept") { Description = "disk checkpoints kept (first, best and latest always); 0: all" }, "Training:CheckpointsKept"),
        (new Option<int?>("--max-non-finite") { Description = "stop as diverged after N non-finite losses in a row" }, "Training:MaxConsecutiveNonFinite"),
        (new Option<bool?>("--start-paused") { Description = "start paused; train after a resume command (dashboard, API or CLI)" }, "Training:StartPaused"),
        (new Option<string>("--out") { Description = "output folder for metrics.jsonl, events.jsonl, run.json, checkpoints/" }, "Training:Out"),
        (new Option<string>("--data-dir") { Description = "Fashion-MNIST folder" }, "Training:Data:FashionMnistDir"),
        (new Option<string>("--text") { Description = "char-lm corpus: a text file or a folder of them" }, "Training:Data:TextPath"),
        (new Option<int?>("--context-length") { Description = "char-lm context length" }, "Training:CharLm:ContextLength"),
        (new Option<int?>("--embedding-size") { Description = "char-lm embedding width" }, "Training:CharLm:EmbeddingSize"),
        (new Option<int?>("--layers") { Description = "char-lm decoder blocks" }, "Training:CharLm:Layers"),
        (new Option<int?>("--heads") { Description = "char-lm attention heads" }, "Training:CharLm:Heads"),
        (new Option<string>("--agent") { Description = "none, rules, openai, azure-openai or replay" }, "Agent:Provider"),
        (new Option<string>("--policy") { Description = "policy file (policies/*.yaml)" }, "Agent:Policy"),
        (new Option<int?>("--decide-every") { Description = "ask the agent every N steps" }, "Agent:DecideEvery"),
        (new Option<bool?>("--pause-while-deciding") { Description = "hold training while the agent decides (exact reproducibility)" }, "Agent:PauseWhileDeciding"),
        (new Option<int?>("--max-turns") { Description = "model turns per decision" }, "Agent:MaxTurns"),
        (new Option<string>("--system-prompt") { Description = "agent instructions file" }, "Agent:SystemPrompt"),
        (new Option<string>("--summary-template") { Description = "summary template file" }, "Agent:SummaryTemplate"),
        (new Option<string>("--base-url") { Description = "OpenAI-compatible endpoint for --agent openai" }, "Agent:OpenAI:BaseUrl"),
        (new Option<string>("--model-name") { Description = "model for --agent openai" }, "Agent:OpenAI:Model"),
        (new Option<string>("--replay") { Description = "decision transcript for --agent replay" }, "Agent:Replay:Transcript"),
        (new Option<string>("--fallback") { Description = "when the model cannot answer: keep or rules" }, "Agent:Resilience:Fallback"),
        (new Option<bool?>("--api") { Description = "serve the API and dashboard beside the run (default true)" }, "ControlPlane:Enabled"),
        (new Option<string>("--urls") { Description = "where the API and dashboard listen, ';'-separated (default http://127.0.0.1:7007)" }, "ControlPlane:Urls"),
    ];

    private static readonly Option<string[]> Faults = new("--fault")
    {
        Description = $"inject a fault (repeatable): {FaultSpec.Syntax}",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<string[]> TaskSettings = new("--task-setting")
    {
        Description = "a setting for your own task (repeatable): KEY=VALUE, as Training:TaskSettings:KEY",
        AllowMultipleArgumentsPerToken = false,
    };

    private static readonly Option<string> ConfigFile = new("--config") { Description = "an extra JSON settings file, over appsettings.json" };

    private static readonly Option<bool> Resume = new("--resume")
    {
        Description = "continue the run in --out even if it completed, stopped, diverged or failed (extend a completed one with --steps)",
    };

    private static readonly Option<bool> New = new("--new")
    {
        Description = "start afresh in --out; a run already there moves to --out/archive/ (nothing is deleted)",
    };

    public static Command Create()
    {
        var command = new Command("run", "Train a model, with the interactive trainer, on the settings given (appsettings.json by default).");
        foreach ((Option option, string _) in Settings)
        {
            command.Options.Add(option);
        }
        command.Options.Add(Faults);
        command.Options.Add(TaskSettings);
        command.Options.Add(ConfigFile);
        command.Options.Add(Resume);
        command.Options.Add(New);
        command.Validators.Add(result =>
        {
            if (result.GetValue(Resume) && result.GetValue(New))
            {
                result.AddError("--resume and --new contradict each other: give one.");
            }
            foreach (string setting in (result.GetValue(TaskSettings) ?? []).Where(s => s.IndexOf('=', StringComparison.Ordinal) < 1))
            {
                result.AddError($"--task-setting '{setting}': give KEY=VALUE.");
            }
        });
        command.SetAction((parse, _) => RunAsync(parse));
        return command;
    }

    /// <summary>The configuration keys the command line sets (only the options given).</summary>
    public static Dictionary<string, string?> ToConfiguration(ParseResult parse)
    {
        var values = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase);
        foreach ((Option option, string key) in Settings)
        {
            if (parse.GetResult(option) is { Implicit: false } result)
            {
                object? value = result.GetValueOrDefault<object?>();
                values[key] = Convert.ToString(value, CultureInfo.InvariantCulture);
            }
        }
        if (parse.GetValue(Resume) || parse.GetValue(New))
        {
            values[$"{TrainingOptions.Section}:{nameof(TrainingOptions.ExistingRun)}"] = parse.GetValue(New) ? ExistingRunModes.New : ExistingRunModes.Resume;
        }
        string[] faults = parse.GetValue(Faults) ?? [];
        for (int index = 0; index < faults.Length; index++)
        {
            FaultOptions fault = FaultSpec.Parse(faults[index]);
            string prefix = $"{TrainingOptions.Section}:Faults:{index}:";
            values[prefix + "Kind"] = fault.Kind;
            values[prefix + "Step"] = fault.Step.ToString(CultureInfo.InvariantCulture);
            values[prefix + "Factor"] = fault.Factor.ToString("R", CultureInfo.InvariantCulture);
            values[prefix + "Count"] = fault.Count.ToString(CultureInfo.InvariantCulture);
            values[prefix + "Layer"] = fault.Layer;
        }
        foreach (string setting in parse.GetValue(TaskSettings) ?? [])
        {
            int equals = setting.IndexOf('=', StringComparison.Ordinal);
            values[$"{TrainingOptions.Section}:{nameof(TrainingOptions.TaskSettings)}:{setting[..equals]}"] = setting[(equals + 1)..];
        }
        return values;
    }

    /// <summary>The host, or null once every problem with the settings has been reported.</summary>
    private static async Task<IHost?> BuildOrReportAsync(Dictionary<string, string?> commandLine, string? configFile)
    {
        try
        {
            return AgentTrainerHost.Build(commandLine, configFile);
        }
        catch (ConfigurationProblemsException error)
        {
            foreach (string problem in error.Problems)
            {
                await Console.Error.WriteLineAsync($"error: {problem}").ConfigureAwait(false);
            }
            return null;
        }
    }

    private static async Task<int> RunAsync(ParseResult parse)
    {
        Dictionary<string, string?> configuration;
        try
        {
            configuration = ToConfiguration(parse);
        }
        catch (FormatException error)
        {
            await Console.Error.WriteLineAsync($"--fault: {error.Message}").ConfigureAwait(false);
            return ExitCodes.InvalidOptions;
        }

        using IHost? host = await BuildOrReportAsync(configuration, parse.GetValue(ConfigFile)).ConfigureAwait(false);
        if (host is null)
        {
            return ExitCodes.InvalidOptions;
        }
        try
        {
            // Every option validated before the host starts, so a bad value is an error line, not a host failure log.
            host.Services.GetRequiredService<IStartupValidator>().Validate();
            await host.StartAsync().ConfigureAwait(false);
        }
        catch (OptionsValidationException error)
        {
            foreach (string failure in error.Failures)
            {
                await Console.Error.WriteLineAsync($"error: {failure}").ConfigureAwait(false);
            }
            return ExitCodes.InvalidOptions;
        }
        // Kestrel reports an address it cannot bind as an IOException around AddressInUseException (or a socket error).
        catch (IOException error) when (error.InnerException is Microsoft.AspNetCore.Connections.AddressInUseException
            or System.Net.Sockets.SocketException)
        {
            await Console.Error.WriteLineAsync($"error: --urls (ControlPlane:Urls): {error.Message} Choose another address with --urls, or run without the API: --api false.").ConfigureAwait(false);
            return ExitCodes.InvalidOptions;
        }
        await Task.WhenAll(
            host.Services.GetRequiredService<ConsoleProgress>().RenderAsync(),
            host.WaitForShutdownAsync()).ConfigureAwait(false);
        return host.Services.GetRequiredService<RunExit>().Code;
    }
}
