using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;

namespace AgentTrainer.Core.Records;

/// <summary>Collects a run's headline figures from its metrics and events, for run.json.
/// Command events may arrive from any thread.</summary>
public sealed class RunStatistics : IRunObserver
{
    private readonly Lock _gate = new();
    private readonly Dictionary<string, int> _commandsByKind = new(StringComparer.Ordinal);
    private double? _lastTrainLoss;
    private double? _initialValLoss;
    private double? _bestValLoss;
    private long? _bestValStep;
    private EvaluationMetrics? _lastEvaluation;
    private double? _bestAccuracy;
    private int _nonFiniteSteps;
    private BestModelRestoredEvent? _handedBack;

    public void OnStep(StepMetrics metrics)
    {
        lock (_gate)
        {
            if (metrics.NonFinite)
            {
                _nonFiniteSteps++;
            }
            _lastTrainLoss = metrics.Loss;
        }
    }

    public void OnEvaluation(EvaluationMetrics metrics)
    {
        lock (_gate)
        {
            _initialValLoss ??= metrics.ValLoss;
            if (double.IsFinite(metrics.ValLoss) && (_bestValLoss is null || metrics.ValLoss < _bestValLoss))
            {
                _bestValLoss = metrics.ValLoss;
                _bestValStep = metrics.Step;
            }
            if (metrics.Accuracy is { } accuracy && (_bestAccuracy is null || accuracy > _bestAccuracy))
            {
                _bestAccuracy = accuracy;
            }
            _lastEvaluation = metrics;
        }
    }

    public void OnEvent(RunEvent runEvent)
    {
        lock (_gate)
        {
            switch (runEvent)
            {
                // A command counts once, when it is accepted into the queue.
                case CommandEvent { Status: CommandStatus.Pending } command:
                    _commandsByKind[command.Kind] = _commandsByKind.GetValueOrDefault(command.Kind) + 1;
                    break;
                case BestModelRestoredEvent restored:
                    _handedBack = restored;
                    break;
            }
        }
    }

    public FinalFigures Summarise(long steps, int branches, double wallSeconds)
    {
        lock (_gate)
        {
            return new FinalFigures
            {
                Steps = steps,
                Branches = branches,
                FinalTrainLoss = _lastTrainLoss,
                InitialValLoss = _initialValLoss,
                BestValLoss = _bestValLoss,
                BestValStep = _bestValStep,
                // The model handed back: the best restored at the end, or the last state.
                FinalValLoss = _handedBack?.ValLoss ?? _lastEvaluation?.ValLoss,
                FinalAccuracy = _handedBack is { } best ? best.Accuracy : _lastEvaluation?.Accuracy,
                BestAccuracy = _bestAccuracy,
                FinalBitsPerChar = _handedBack is { } restored ? restored.BitsPerChar : _lastEvaluation?.BitsPerChar,
                LastValLoss = _lastEvaluation?.ValLoss,
                NonFiniteSteps = _nonFiniteSteps,
                CommandsByKind = new SortedDictionary<string, int>(_commandsByKind, StringComparer.Ordinal),
                WallSeconds = Math.Round(wallSeconds, 3),
            };
        }
    }
}
