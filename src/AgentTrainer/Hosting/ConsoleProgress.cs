using System.Globalization;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Spectre.Console;

namespace AgentTrainer.App.Hosting;

/// <summary>Shows a run's progress: a live progress bar on a terminal, plain log lines otherwise
/// (a pipe, a file, CI). Fed by the trainer, so it only stores values and never blocks.</summary>
public sealed class ConsoleProgress : IRunObserver
{
    private readonly ILogger<ConsoleProgress> _logger;
    private readonly long _totalSteps;
    private readonly long _logInterval;
    private readonly TaskCompletionSource _completed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private StepMetrics? _lastStep;
    private EvaluationMetrics? _lastEvaluation;

    public ConsoleProgress(IOptions<TrainingOptions> options, ILogger<ConsoleProgress> logger)
    {
        _logger = logger;
        _totalSteps = options.Value.Steps;
        _logInterval = Math.Max(1, _totalSteps / 20);
        Interactive = !Console.IsOutputRedirected && AnsiConsole.Profile.Capabilities.Interactive;
    }

    public bool Interactive { get; }

    public void OnStep(StepMetrics metrics)
    {
        Volatile.Write(ref _lastStep, metrics);
        if (!Interactive && (metrics.Step + 1) % _logInterval == 0)
        {
            _logger.LogInformation("step {Step}/{Total} branch {Branch} loss {Loss:F4} lr {Lr:E2} grad_norm {GradNorm:F3} {Rate:F0} samples/s",
                metrics.Step + 1, _totalSteps, metrics.Branch, metrics.Loss, metrics.LearningRate, metrics.GradNorm, metrics.SamplesPerSecond);
        }
    }

    public void OnEvaluation(EvaluationMetrics metrics)
    {
        Volatile.Write(ref _lastEvaluation, metrics);
        if (!Interactive)
        {
            _logger.LogInformation("eval at step {Step}: {Figures}", metrics.Step, Describe(metrics));
        }
    }

    public void OnEvent(RunEvent runEvent)
    {
        switch (runEvent)
        {
            case FaultInjectedEvent fault:
                _logger.LogWarning("fault at step {Step}: {Kind}: {Description}", fault.Step, fault.Kind, fault.Description);
                break;
            case CheckpointSkippedEvent skipped:
                _logger.LogWarning("checkpoint {Path} skipped (left where it is): {Problem}", skipped.Path, skipped.Problem);
                break;
            case NonFiniteLossEvent nonFinite when nonFinite.Consecutive == 1:
                _logger.LogWarning("non-finite loss at step {Step}: update skipped", nonFinite.Step);
                break;
            case BatchSkippedEvent skipped:
                _logger.LogWarning("batch of step {Step} not trained on: loss {Loss:G4} is {Ratio:F1}x the recent average "
                    + "({Skipped} skipped so far)", skipped.Step, skipped.Loss, skipped.Loss / skipped.LossAverage,
                    skipped.Skipped);
                break;
            case ExplorationFinishedEvent explored:
                _logger.LogInformation("explored from step {Fork} (round {Round}): {Candidates}; continuing on branch "
                    + "{Branch}: {Reason}", explored.ForkStep, explored.Round,
                    string.Join(", ", explored.Candidates.Select(c => string.Create(CultureInfo.InvariantCulture,
                        $"x{c.LearningRateFactor:G3} val {c.ValLoss:F4}"))), explored.ChosenBranch, explored.Reason);
                break;
            case BranchChoiceAwaitedEvent awaited:
                _logger.LogWarning("exploration {Command} waits for your pick of branch ({Branches}; suggested {Best}: "
                    + "{Reason}): agent-trainer command choose-branch N", awaited.CommandId,
                    string.Join(", ", awaited.Candidates.Select(c => c.Branch)), awaited.SuggestedBranch, awaited.Reason);
                break;
            case BestModelRestoredEvent best:
                _logger.LogInformation("best model handed back: {Checkpoint}, val_loss {Best:F4} (the last state's {Last:F4} stays on disk)",
                    best.CheckpointId, best.ValLoss, best.LastValLoss);
                break;
            case CommandEvent command when command.Status.IsFinal():
                _logger.LogInformation("command {Id} {Kind} from {Source} {Status}: {Reason}", command.Id, command.Kind, command.Source, command.Status, command.Reason);
                break;
        }
    }

    public void Complete() => _completed.TrySetResult();

    /// <summary>Draws the live bar until the run completes (terminal only).</summary>
    public async Task RenderAsync()
    {
        if (!Interactive)
        {
            await _completed.Task.ConfigureAwait(false);
            return;
        }
        await AnsiConsole.Progress()
            .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
            .StartAsync(async context =>
            {
                ProgressTask bar = context.AddTask("starting", maxValue: _totalSteps);
                while (!_completed.Task.IsCompleted)
                {
                    Refresh(bar);
                    await Task.WhenAny(_completed.Task, Task.Delay(250)).ConfigureAwait(false);
                }
                Refresh(bar);
            }).ConfigureAwait(false);
    }

    private void Refresh(ProgressTask bar)
    {
        if (Volatile.Read(ref _lastStep) is not { } step)
        {
            return;
        }
        bar.Value = step.Step + 1;
        string evaluation = Volatile.Read(ref _lastEvaluation) is { } metrics ? " | " + Describe(metrics) : "";
        bar.Description = Markup.Escape(string.Create(CultureInfo.InvariantCulture,
            $"step {step.Step + 1} b{step.Branch} loss {step.Loss:F3} lr {step.LearningRate:E1}{evaluation}"));
    }

    private static string Describe(EvaluationMetrics metrics) =>
        string.Create(CultureInfo.InvariantCulture, $"val_loss {metrics.ValLoss:F4}")
        + (metrics.Accuracy is { } accuracy ? string.Create(CultureInfo.InvariantCulture, $" acc {accuracy:F4}") : "")
        + (metrics.BitsPerChar is { } bits ? string.Create(CultureInfo.InvariantCulture, $" bpc {bits:F3}") : "");
}
