using AgentTrainer.Agents;
using AgentTrainer.Agents.Storage;
using AgentTrainer.Agents.Supervision;
using AgentTrainer.ControlPlane;
using AgentTrainer.ControlPlane.Live;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;
using AgentTrainer.Training;
using AgentTrainer.Training.Data;
using AgentTrainer.Training.Tasks;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentTrainer.App.Hosting;

/// <summary>Runs one training run on its own long-running thread and stops the host when it ends.
/// Host shutdown (Ctrl+C, SIGTERM) cancels the run, which then writes a checkpoint and finishes.</summary>
public sealed class TrainingService(
    IOptions<TrainingOptions> options,
    IOptions<AgentOptions> agentOptions,
    CommandQueue commands,
    TimeProvider time,
    ConsoleProgress progress,
    TaskCatalog tasks,
    IHttpClientFactory http,
    IEnumerable<IRunObserver> observers,
    RunMonitor monitor,
    ActiveRun active,
    RunExit exit,
    IHostApplicationLifetime lifetime,
    ILogger<TrainingService> logger) : BackgroundService
{
    /// <summary>Training starts once the whole host is up, the API bound: a host that fails to start (an address
    /// in use) trains nothing and touches no run folder, and its process never exits under a native training
    /// thread.</summary>
    private async Task<bool> HostStartedAsync(CancellationToken stopping)
    {
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using CancellationTokenRegistration onStarted = lifetime.ApplicationStarted.Register(() => started.TrySetResult());
        using CancellationTokenRegistration onStopping = stopping.Register(() => started.TrySetCanceled(stopping));
        try
        {
            await started.Task.ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    protected override Task ExecuteAsync(CancellationToken stoppingToken) =>
        Task.Factory.StartNew(() => Train(stoppingToken).GetAwaiter().GetResult(), CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private async Task Train(CancellationToken stoppingToken)
    {
        // Stop as soon as the application starts stopping (a signal), not only when the host
        // gets round to stopping its services.
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(stoppingToken, lifetime.ApplicationStopping);
        if (!await HostStartedAsync(stop.Token).ConfigureAwait(false))
        {
            return;
        }
        try
        {
            TrainingOptions settings = options.Value;
            AgentOptions agentSettings = agentOptions.Value;
            RunFolder.RefuseForeign(settings.Out, AgentDatabase.FileName, AgentSupervisor.TranscriptFile); // before writing a byte there
            // Held until every record is written and closed (disposed last): one process per run folder.
            using RunFolderLock folderLock = RunFolderLock.Acquire(settings.Out);
            PreviousRun? previous = RunFolder.Prepare(settings, AgentDatabase.FileName, AgentSupervisor.TranscriptFile);
            int session = previous?.Session ?? 1;
            commands.StartSession(session);
            await using AgentRun? agent = agentSettings.Provider == AgentProviders.None
                ? null
                : AgentRun.Create(agentSettings, settings.Out, commands, time, http.CreateClient(AgentFactory.ModelHttpClient), session);
            using var run = new TrainingRun(settings, commands, time, tasks, [.. observers, .. agent?.Observers ?? []]);
            // An agent run hands back its best model unless told otherwise (as load_best_model_at_end).
            run.Trainer.LoadBestAtEnd = settings.LoadBestAtEnd ?? agent is not null;
            if (previous is not null)
            {
                ResumePoint resume = run.Resume(previous);
                monitor.Preload(settings.Out, resume);
                agent?.Supervisor.ContinueAfterResume(previous.Events, run.Trainer.AppliedKeys, resume.CheckpointId);
                logger.LogInformation("Resuming the run in {Folder} from {Checkpoint} (step {Step}, branch {Branch}); session {Session}",
                    Path.GetFullPath(settings.Out), resume.CheckpointId, resume.Step, resume.Branch, session);
            }
            agent?.Attach(run);
            active.Attach(new RunHandle(run, agent));
            logger.LogInformation("Training {Task} for {Steps} steps on {Device}; agent {Agent}{Policy}; records in {Folder}",
                settings.Task, settings.Steps, run.Runtime.Description, agentSettings.Provider,
                agent is null ? "" : $" under {agentSettings.Policy}", Path.GetFullPath(settings.Out));
            RunSummary summary = run.Execute(stop.Token);
            exit.Code = ExitCodes.ForOutcome(summary.Status);
            if (summary.Status == RunOutcomes.OutOfBudget)
            {
                logger.LogWarning("The budget ran out before step {Steps}: {Trained} steps trained of at most {Max}{Deadline}.", settings.Steps,
                    run.Trainer.State.TrainedSteps, run.Trainer.Budget.MaxTrainedSteps,
                    run.Trainer.Budget.Deadline is { } deadline ? $", deadline {deadline:O}" : "");
            }
            FinalFigures final = summary.Final!;
            // The handed-back model as run.json, the service's run list and the morning report show it; the best
            // checkpoint's loss is the one measured at the end on the same split, not a periodic partial one.
            logger.LogInformation("Run {Outcome} at step {Step} ({Trained} trained): hands back {HandedBack}{Accuracy} "
                + "(start {Initial:F4}; best checkpoint {BestCheckpoint}, {Best:F4})",
                summary.Status, final.Steps, run.Trainer.State.TrainedSteps,
                final.HandedBack?.Description ?? "no model",
                final.FinalAccuracy is { } accuracy ? $", accuracy {accuracy:F4}" : "", final.InitialValLoss,
                final.BestCheckpoint, final.BestCheckpointValLoss);
        }
        catch (DataSetException error)
        {
            logger.LogError("{Message}", error.Message);
            exit.Code = ExitCodes.DataSetProblem;
        }
        catch (RunOptionsException error)
        {
            logger.LogError("{Message}", error.Message);
            exit.Code = ExitCodes.InvalidOptions;
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            // A disk that filled or failed mid-run: no stack trace, just what and where.
            logger.LogError("Training failed: {Message}. run.json says so; once the disk is fixed, continue with --resume.", error.Message);
            exit.Code = ExitCodes.Failed;
        }
#pragma warning disable CA1031 // the run's failure is reported and becomes the exit code; the host must still stop
        catch (Exception error)
#pragma warning restore CA1031
        {
            logger.LogError(error, "Training failed");
            exit.Code = ExitCodes.Failed;
        }
        finally
        {
            progress.Complete();
            lifetime.StopApplication();
        }
    }
}
