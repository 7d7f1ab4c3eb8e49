using System.CommandLine;
using System.Globalization;
using AgentTrainer.App.Hosting;
using AgentTrainer.ControlPlane.Live;
using AgentTrainer.Core.Commands;

namespace AgentTrainer.App.Cli;

/// <summary><c>agent-trainer command ...</c>: a person's command to a running host, over the API with
/// the token; waits until the trainer has applied it and prints what it did.</summary>
public static class CommandCommandLine
{
    public static Command Create()
    {
        var api = new ApiOptions();
        var noWait = new Option<bool>("--no-wait") { Description = "return once queued, without waiting for the trainer to apply it" };
        var lr = new Argument<double>("learning-rate") { Description = "the new base learning rate" };
        var factor = new Argument<double>("factor") { Description = "multiply the base learning rate by this" };
        var checkpoint = new Argument<string>("checkpoint-id") { Description = "a checkpoint id (GET /api/checkpoints)" };
        var layer = new Argument<string>("layer") { Description = "a layer name (GET /api/run lists them)" };
        var memoryOnly = new Option<bool>("--memory-only") { Description = "keep it in memory only, not on disk" };

        var root = new Command("command", "Send a command to a running host (API, with the token).");
        Add(root, api, noWait, new Command("set-lr", "Set the base learning rate.") { lr }, parse => new UpdateOptimizerCommand { LearningRate = parse.GetValue(lr) });
        Add(root, api, noWait, new Command("scale-lr", "Multiply the base learning rate.") { factor }, parse => UpdateOptimizerCommand.ScaleLearningRate(parse.GetValue(factor)));
        Add(root, api, noWait, new Command("pause", "Pause training at the next step boundary."), _ => new PauseCommand());
        Add(root, api, noWait, new Command("resume", "Resume a paused run."), _ => new ResumeCommand());
        Add(root, api, noWait, new Command("save-checkpoint", "Save a checkpoint now.") { memoryOnly }, parse => new SaveCheckpointCommand { ToDisk = !parse.GetValue(memoryOnly) });
        Add(root, api, noWait, new Command("rollback", "Restore a checkpoint; training continues on a new branch.") { checkpoint }, parse => new LoadCheckpointCommand(parse.GetValue(checkpoint)!));
        Add(root, api, noWait, new Command("reset-layer", "Re-initialise a layer and its optimizer state.") { layer }, parse => new ModelLayerOperationCommand(parse.GetValue(layer)!));
        var batches = new Argument<long>("batches") { Description = "how many batches to pass over" };
        var layerFactor = new Argument<double>("factor") { Description = "the layer's lr multiplier (1: the run's lr)" };
        var percentile = new Argument<double>("percentile") { Description = "0 to 100" };
        Add(root, api, noWait, new Command("freeze", "Leave a layer out of every update.") { layer },
            parse => new ModelLayerOperationCommand(parse.GetValue(layer)!, LayerOperations.Freeze));
        Add(root, api, noWait, new Command("unfreeze", "Train a frozen layer again.") { layer },
            parse => new ModelLayerOperationCommand(parse.GetValue(layer)!, LayerOperations.Unfreeze));
        Add(root, api, noWait, new Command("layer-lr", "Train a layer at a multiple of the run's lr.") { layer, layerFactor },
            parse => new ModelLayerOperationCommand(parse.GetValue(layer)!, LayerOperations.ScaleLearningRate)
            {
                Factor = parse.GetValue(layerFactor),
            });
        Add(root, api, noWait, new Command("clip-percentile", "Clip at a percentile of recent gradient norms.") { percentile },
            parse => new UpdateOptimizerCommand { GradClipPercentile = parse.GetValue(percentile) });
        var source = new Argument<string>("source") { Description = "the data source's name in the mixture" };
        var path = new Argument<string>("path") { Description = "a text file or a folder of them" };
        var weight = new Argument<double>("weight") { Description = "its weight in the mixture (0: kept, not drawn)" };
        Add(root, api, noWait, new Command("add-data", "Add a data source to the training mixture.") { source, path, weight },
            parse => new UpdateDatasetCommand
            {
                Add = [new DataSourceSpec(parse.GetValue(source)!, Path.GetFullPath(parse.GetValue(path)!), parse.GetValue(weight))],
            });
        Add(root, api, noWait, new Command("remove-data", "Remove a data source from the mixture.") { source },
            parse => new UpdateDatasetCommand { Remove = [parse.GetValue(source)!] });
        Add(root, api, noWait, new Command("weight-data", "Set a data source's weight.") { source, weight },
            parse => new UpdateDatasetCommand
            {
                Weights = new Dictionary<string, double> { [parse.GetValue(source)!] = parse.GetValue(weight) },
            });
        var branch = new Argument<int>("branch") { Description = "one of the exploration's last round of branches" };
        Add(root, api, noWait, new Command("choose-branch", "Pick the branch an exploration waiting for you continues.")
            { branch }, parse => new ChooseBranchCommand(parse.GetValue(branch)));
        Add(root, api, noWait, new Command("skip-data", "Pass over the next batches without training on them.") { batches },
            parse => new SkipDataCommand(parse.GetValue(batches)));
        Add(root, api, noWait, new Command("evaluate", "Evaluate on the validation set now."), _ => new EvaluateCommand());
        Add(root, api, noWait, new Command("stop", "Stop the run (it writes a checkpoint first)."), _ => new StopCommand());
        return root;
    }

    private static void Add(Command root, ApiOptions api, Option<bool> noWait, Command command, Func<ParseResult, TrainerCommand> build)
    {
        api.AddTo(command);
        command.Options.Add(noWait);
        command.SetAction((parse, _) => ApiOptions.Guard(async () =>
        {
            using ControlPlaneClient client = api.Connect(parse);
            CommandView view = await client.Submit(build(parse)).ConfigureAwait(false);
            if (!parse.GetValue(noWait))
            {
                try
                {
                    view = await client.WaitFor(view.Id, TimeSpan.FromMinutes(5)).ConfigureAwait(false);
                }
                catch (ControlPlaneClientException) when (view.Arguments is StopCommand)
                {
                    // A stopped run's host shuts down: it may be gone before the answer can be read.
                    Console.WriteLine($"{view.Id} stop: the run stopped and its host has shut down");
                    return ExitCodes.Success;
                }
            }
            Console.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"{view.Id} {view.Kind}: {view.Status.ToString().ToLowerInvariant()}{(view.Reason is null ? "" : " — " + view.Reason)}"));
            return view.Status is CommandStatus.Failed or CommandStatus.Cancelled ? ExitCodes.Failed : ExitCodes.Success;
        }));
        root.Subcommands.Add(command);
    }
}
