using System.CommandLine;
using System.Globalization;
using AgentTrainer.App.Hosting;
using AgentTrainer.ControlPlane.Remote;
using AgentTrainer.Core.Options;
using Microsoft.AspNetCore.Builder;
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
        Setting<string>("--task", "Training:Task", "fashion-mnist, char-lm or synthetic"),
        Setting<string>("--model", "Training:Model", "fashion-mnist: mlp or cnn; char-lm: gpt; synthetic: mlp"),
        Setting<int?>("--steps", "Training:Steps", "optimisation steps"),
        Setting<long?>("--max-trained-steps", "Training:MaxTrainedSteps",
            "the most steps the run may train in all, rollbacks included; 0: twice --steps"),
        Setting<string>("--deadline", "Training:Deadline",
            "when the run must be done: 07:00 (the next one) or 2026-11-27T07:00+01:00"),
        Setting<bool?>("--load-best-at-end", "Training:LoadBestAtEnd",
            "hand back the best model at the end (default: when an agent supervises)"),
        Setting<string>("--task-assembly", "Training:TaskAssembly",
            "a built .NET assembly with your own tasks or loops (ITrainingTaskProvider, ITrainingLoopProvider); "
            + "--task names one"),
        Setting<int?>("--batch-size", "Training:BatchSize", "examples (sequences) per step; 0: the task's default"),
        Setting<double?>("--lr", "Training:LearningRate", "base learning rate"),
        Setting<string>("--optimizer", "Training:Optimizer", "adamw or sgd"),
        Setting<double?>("--weight-decay", "Training:WeightDecay", "weight decay"),
        Setting<double?>("--momentum", "Training:Momentum", "SGD momentum"),
        Setting<string>("--schedule", "Training:Schedule", "constant, linear or cosine"),
        Setting<int?>("--warmup-steps", "Training:WarmupSteps", "linear warm-up steps"),
        Setting<double?>("--grad-clip", "Training:GradClip", "gradient-norm clipping threshold; 0: off"),
        Setting<double?>("--skip-batch-loss-factor", "Training:Guards:SkipBatchLossFactor",
            "do not train on a batch whose loss is this many times the recent average; 0: off"),
        Setting<double?>("--adaptive-grad-clip", "Training:Guards:AdaptiveGradClipPercentile",
            "clip every step at this percentile (0-100) of the recent gradient norms; 0: off"),
        Setting<int?>("--grad-norm-window", "Training:Guards:GradNormWindow",
            "the recent trained steps whose gradient norms the percentile is taken from"),
        Setting<int?>("--seed", "Training:Seed", "random seed"),
        Setting<int?>("--threads", "Training:Threads", "CPU threads; 0: all cores"),
        Setting<string>("--device", "Training:Device", "auto, cpu or cuda"),
        Setting<int?>("--eval-every", "Training:EvalEvery", "evaluate every N steps"),
        Setting<int?>("--eval-batches", "Training:EvalBatches", "validation batches per evaluation; 0: all"),
        Setting<int?>("--log-every", "Training:LogEvery", "write a metrics line every N steps"),
        Setting<int?>("--snapshot-every", "Training:SnapshotEvery", "in-memory checkpoint every N steps; 0: none"),
        Setting<int?>("--snapshots-kept", "Training:SnapshotsKept", "in-memory checkpoints kept"),
        Setting<int?>("--checkpoint-every", "Training:CheckpointEvery",
            "disk checkpoint every N steps; 0: only at the end and on request"),
        Setting<int?>("--checkpoints-kept", "Training:CheckpointsKept",
            "disk checkpoints kept (first, best and latest always); 0: all"),
        Setting<int?>("--max-non-finite", "Training:MaxConsecutiveNonFinite",
            "stop as diverged after N non-finite losses in a row"),
        Setting<bool?>("--start-paused", "Training:StartPaused",
            "start paused; train after a resume command (dashboard, API or CLI)"),
        Setting<string>("--out", "Training:Out",
            "output folder for metrics.jsonl, events.jsonl, run.json, checkpoints/"),
        Setting<string>("--data-dir", "Training:Data:FashionMnistDir", "Fashion-MNIST folder"),
        Setting<string>("--text", "Training:Data:TextPath", "char-lm corpus: a text file or a folder of them"),
        Setting<string>("--eval-text", "Training:Data:EvalTextPath",
            "char-lm: evaluate on the held-out tenth of this text instead of the corpus's"),
        Setting<string>("--watch-folder", "Training:Data:WatchFolder",
            "fold the files that appear in this folder into the training data (relative: inside --out)"),
        Setting<double?>("--watch-weight", "Training:Data:WatchWeight", "the weight of a file folded in"),
        Setting<int?>("--context-length", "Training:CharLm:ContextLength", "char-lm context length"),
        Setting<int?>("--embedding-size", "Training:CharLm:EmbeddingSize", "char-lm embedding width"),
        Setting<int?>("--layers", "Training:CharLm:Layers", "char-lm decoder blocks"),
        Setting<int?>("--heads", "Training:CharLm:Heads", "char-lm attention heads"),
        Setting<string>("--agent", "Agent:Provider", "none, rules, openai, azure-openai or replay"),
        Setting<string>("--policy", "Agent:Policy", "policy file (policies/*.yaml)"),
        Setting<int?>("--decide-every", "Agent:DecideEvery", "ask the agent every N steps"),
        Setting<bool?>("--pause-while-deciding", "Agent:PauseWhileDeciding",
            "hold training while the agent decides (exact reproducibility)"),
        Setting<int?>("--max-turns", "Agent:MaxTurns", "model turns per decision"),
        Setting<string>("--system-prompt", "Agent:SystemPrompt", "agent instructions file"),
        Setting<string>("--summary-template", "Agent:SummaryTemplate", "summary template file"),
        Setting<string>("--base-url", "Agent:OpenAI:BaseUrl", "OpenAI-compatible endpoint for --agent openai"),
        Setting<string>("--model-name", "Agent:OpenAI:Model", "model for --agent openai"),
        Setting<string>("--replay", "Agent:Replay:Transcript", "decision transcript for --agent replay"),
        Setting<string>("--fallback", "Agent:Resilience:Fallback", "when the model cannot answer: keep or rules"),
        Setting<bool?>("--api", "ControlPlane:Enabled", "serve the API and dashboard beside the run (default true)"),
        Setting<string>("--urls", "ControlPlane:Urls",
            "where the API and dashboard listen, ';'-separated (default http://127.0.0.1:7007)"),
        Setting<bool?>("--remote", "Remote:Enabled",
            "train nothing here: wait for trainers (PyTorch, other hosts) to attach over the trainer protocol; "
            + "each one's run lands in --out/NAME"),
        Setting<string>("--lost-after", "Remote:LostAfter",
            "with --remote: a trainer silent this long (hh:mm:ss, default 00:01:00) is lost and its commands fail"),
    ];

    private static (Option Option, string Key) Setting<T>(string name, string key, string description) =>
        (new Option<T>(name) { Description = description }, key);

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

    private static readonly Option<string> ConfigFile = new("--config")
    {
        Description = "an extra JSON settings file, over appsettings.json",
    };

    private static readonly Option<bool> Resume = new("--resume")
    {
        Description = "continue the run in --out even if it completed, stopped, diverged or failed "
            + "(extend a completed one with --steps)",
    };

    private static readonly Option<bool> New = new("--new")
    {
        Description = "start afresh in --out; a run already there moves to --out/archive/ (nothing is deleted)",
    };

    public static Command Create()
    {
        var command = new Command(
            "run", "Train a model, with the interactive trainer, on the settings given (appsettings.json by default).");
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
            string[] settings = result.GetValue(TaskSettings) ?? [];
            foreach (string setting in settings.Where(s => s.IndexOf('=', StringComparison.Ordinal) < 1))
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
            values[$"{TrainingOptions.Section}:{nameof(TrainingOptions.ExistingRun)}"] =
                parse.GetValue(New) ? ExistingRunModes.New : ExistingRunModes.Resume;
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
            string key = $"{TrainingOptions.Section}:{nameof(TrainingOptions.TaskSettings)}:{setting[..equals]}";
            values[key] = setting[(equals + 1)..];
        }
        return values;
    }

    /// <summary>The host, or null once every problem with the settings has been reported.</summary>
    private static async Task<IHost?> BuildOrReportAsync(Dictionary<string, string?> commandLine, string? configFile,
        Action<WebApplicationBuilder>? configureWeb, Action<WebApplication>? configureApp)
    {
        try
        {
            return AgentTrainerHost.Build(commandLine, configFile, configureWeb, configureApp);
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
        return await RunHostAsync(configuration, parse.GetValue(ConfigFile)).ConfigureAwait(false);
    }

    /// <summary>Builds, checks, starts and runs a host until it ends (a run) or is stopped (remote runs, the service).</summary>
    internal static async Task<int> RunHostAsync(Dictionary<string, string?> configuration, string? configFile,
        Action<WebApplicationBuilder>? configureWeb = null, Action<WebApplication>? configureApp = null)
    {
        using IHost? host = await BuildOrReportAsync(configuration, configFile, configureWeb, configureApp).ConfigureAwait(false);
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
        catch (Service.Store.StoreException error)
        {
            await Console.Error.WriteLineAsync($"error: {error.Message}").ConfigureAwait(false);
            return ExitCodes.InvalidOptions;
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
            await Console.Error.WriteLineAsync($"error: --urls (ControlPlane:Urls): {error.Message} Choose another "
                + "address with --urls, or run without the API: --api false.").ConfigureAwait(false);
            return ExitCodes.InvalidOptions;
        }
        // A host for remote trainers trains nothing here: no progress bar, it runs until stopped.
        bool remote = host.Services.GetRequiredService<IOptions<RemoteOptions>>().Value.Enabled;
        await Task.WhenAll(
            remote ? Task.CompletedTask : host.Services.GetRequiredService<ConsoleProgress>().RenderAsync(),
            host.WaitForShutdownAsync()).ConfigureAwait(false);
        return host.Services.GetRequiredService<RunExit>().Code;
    }
}
