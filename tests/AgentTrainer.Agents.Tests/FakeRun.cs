using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;

namespace AgentTrainer.Agents.Tests;

/// <summary>A run as the agent side sees it, played by the test: it reports the steps it is given, applies
/// queued commands when told (succeeding lr changes and rollbacks, as a trainer would at a step boundary),
/// and records every event. Command status changes reach the observers as a real run's do.</summary>
public sealed class FakeRun : ISupervisedRun, IRunObserver, IDisposable
{
    private readonly List<IRunObserver> _observers = [];
    private RunState _state = new(0, 1000, 0, 1e-3, 1e-3, false, null, 0, 1000);

    public FakeRun(TimeProvider time)
    {
        Commands = new CommandQueue(time);
        Commands.StatusChanged += (record, change) => OnEvent(new CommandEvent
        {
            Time = change.At, Step = change.Step ?? _state.Step, Branch = _state.Branch, Id = record.Id,
            Kind = record.Command.Kind, Source = record.Source, Arguments = record.Command, Status = change.Status,
            Reason = change.Reason,
        });
    }

    public string Task => "fake";
    public string Folder => "";
    public int Session => 1;
    public string? ResumedFromCheckpoint => null;
    public RunState State => Volatile.Read(ref _state);
    public RunBudget Budget => new(2000, null);
    public IReadOnlyList<string> Layers { get; } = ["encoder", "encoder.weight", "head", "head.weight"];
    public List<CheckpointInfo> Saved { get; } = [];
    public IReadOnlyList<CheckpointInfo> Checkpoints => [.. Saved];
    public IReadOnlyList<BranchInfo> Branches => [new BranchInfo(0, null, 0, null)];
    public CommandQueue Commands { get; }
    public IRunObserver Events => this;
    public List<RunEvent> Recorded { get; } = [];

    public void Watch(IRunObserver observer) => _observers.Add(observer);

    public void SaveCheckpoint(long step, double valLoss) =>
        Saved.Add(new CheckpointInfo($"ckpt-{step:D6}-b0", step, 0, DateTimeOffset.UnixEpoch, 1, valLoss, null, true, valLoss));

    /// <summary>One training step with this loss (and gradient norm): the state moves on, observers hear of it.</summary>
    public void Step(double loss, double gradNorm = 1.0)
    {
        RunState state = State;
        var metrics = new StepMetrics(
            state.Step, 0, state.Branch, loss, state.LearningRate, gradNorm, 1, 1000, !double.IsFinite(loss));
        _state = state with { Step = state.Step + 1, TrainedSteps = state.TrainedSteps + 1, LastLoss = loss,
            BudgetStepsLeft = state.BudgetStepsLeft - 1 };
        foreach (IRunObserver observer in _observers)
        {
            observer.OnStep(metrics);
        }
    }

    /// <summary>Applies what is queued, as a trainer does at a step boundary.</summary>
    public List<CommandRecord> ApplyQueued()
    {
        List<CommandRecord> applied = [];
        while (Commands.TryTake(out CommandRecord record))
        {
            Commands.Start(record, State.Step);
            if (record.Command is UpdateOptimizerCommand { LearningRateFactor: { } scale })
            {
                _state = State with { LearningRate = State.LearningRate * scale, BaseLearningRate = State.BaseLearningRate * scale };
            }
            Commands.Succeed(record, State.Step, "applied");
            applied.Add(record);
        }
        return applied;
    }

    public void Finish() => OnEvent(new RunFinishedEvent
    {
        Time = DateTimeOffset.UnixEpoch, Step = State.Step, Branch = State.Branch, Outcome = RunOutcomes.Completed,
    });

    public void OnStep(StepMetrics metrics)
    {
    }

    public void OnEvaluation(EvaluationMetrics metrics)
    {
    }

    public void OnEvent(RunEvent runEvent)
    {
        lock (Recorded)
        {
            Recorded.Add(runEvent);
        }
        foreach (IRunObserver observer in _observers)
        {
            observer.OnEvent(runEvent);
        }
    }

    public void Dispose() => Commands.Dispose();
}
