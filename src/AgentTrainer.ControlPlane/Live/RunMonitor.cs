using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;

namespace AgentTrainer.ControlPlane.Live;

/// <summary>The run as the control plane sees it: every step and evaluation per branch, recent
/// events, and each command's latest status. Fed by the run's observers (on the training thread:
/// a list append under a lock), and passed on to the live stream.</summary>
public sealed class RunMonitor(LiveStream stream) : IRunObserver
{
    private const int EventsKept = 20_000;
    private readonly Lock _gate = new();
    private readonly List<StepPoint> _steps = [];
    private readonly List<EvalPoint> _evaluations = [];
    private readonly List<RunEvent> _events = [];
    private readonly Dictionary<string, CommandView> _commands = new(StringComparer.Ordinal);
    private string? _outcome;

    /// <summary>How the run ended (null while it runs).</summary>
    public string? Outcome
    {
        get { lock (_gate) { return _outcome; } }
    }

    public void OnStep(StepMetrics metrics)
    {
        StepPoint point = StepPoint.Of(metrics);
        lock (_gate)
        {
            _steps.Add(point);
        }
        stream.Publish(StreamTypes.Step, point);
    }

    public void OnEvaluation(EvaluationMetrics metrics)
    {
        EvalPoint point = EvalPoint.Of(metrics);
        lock (_gate)
        {
            _evaluations.Add(point);
        }
        stream.Publish(StreamTypes.Evaluation, point);
    }

    public void OnEvent(RunEvent runEvent)
    {
        lock (_gate)
        {
            Remember(runEvent);
        }
        stream.Publish<RunEvent>(StreamTypes.Event, runEvent);
    }

    /// <summary>History recorded before a restart (a resumed run), so charts and event views are whole.</summary>
    public void Preload(string runFolder, ResumePoint resume)
    {
        (IReadOnlyList<StepMetrics> steps, IReadOnlyList<EvaluationMetrics> evaluations) = RunRecordReader.ReadMetrics(runFolder);
        IReadOnlyList<RunEvent> events = RunRecordReader.ReadEvents(runFolder);
        lock (_gate)
        {
            _steps.InsertRange(0, steps.Where(s => resume.Precedes(s.Step, s.Branch))
                .Select(StepPoint.Of));
            _evaluations.InsertRange(0, evaluations.Where(e => resume.Precedes(e.Step, e.Branch))
                .Select(EvalPoint.Of));
            foreach (RunEvent runEvent in events.Where(e => e is not RunFinishedEvent))
            {
                Remember(runEvent);
            }
        }
    }

    /// <summary>The run continues as a later session in this process (a remote trainer came back): what that
    /// session will record again is dropped, and the run is no longer over.</summary>
    public void Continue(ResumePoint resume)
    {
        lock (_gate)
        {
            _steps.RemoveAll(p => !resume.Precedes(p.Step, p.Branch));
            _evaluations.RemoveAll(p => !resume.Precedes(p.Step, p.Branch));
            _outcome = null;
        }
    }

    /// <summary>Steps and evaluations, optionally of one branch and after a step; long series are
    /// thinned to at most <paramref name="maxPoints"/> per branch (always keeping the latest point).</summary>
    public MetricsView Metrics(int? branch, long? sinceStep, int maxPoints)
    {
        List<StepPoint> steps;
        List<EvalPoint> evaluations;
        lock (_gate)
        {
            steps = [.. _steps.Where(p => (branch is null || p.Branch == branch) && (sinceStep is null || p.Step > sinceStep))];
            evaluations = [.. _evaluations.Where(p => (branch is null || p.Branch == branch) && (sinceStep is null || p.Step > sinceStep))];
        }
        return new MetricsView([.. steps.GroupBy(p => p.Branch).SelectMany(g => Thin(g.ToList(), maxPoints))], evaluations);
    }

    public IReadOnlyList<RunEvent> Events(string? type, int limit)
    {
        lock (_gate)
        {
            return [.. _events.Where(e => type is null || RunEventTypes.Of(e) == type).TakeLast(limit)];
        }
    }

    public IReadOnlyList<CommandView> Commands()
    {
        lock (_gate)
        {
            return [.. _commands.Values.OrderBy(c => c.RequestedAt)];
        }
    }

    public CommandView? Command(string id)
    {
        lock (_gate)
        {
            return _commands.GetValueOrDefault(id);
        }
    }

    private void Remember(RunEvent runEvent)
    {
        _events.Add(runEvent);
        if (_events.Count > EventsKept)
        {
            _events.RemoveRange(0, _events.Count - EventsKept);
        }
        switch (runEvent)
        {
            case CommandEvent command:
                _commands[command.Id] = _commands.TryGetValue(command.Id, out CommandView? known)
                    ? known with { Status = command.Status, Reason = command.Reason, Step = command.Step, UpdatedAt = command.Time }
                    : new CommandView(command.Id, command.Kind, command.Source, command.Arguments, command.Status, command.Reason, command.Step, command.Time, command.Time);
                break;
            case RunFinishedEvent finished:
                _outcome = finished.Outcome;
                break;
        }
    }

    private static IEnumerable<StepPoint> Thin(List<StepPoint> points, int maxPoints)
    {
        if (points.Count <= maxPoints)
        {
            return points;
        }
        int stride = (points.Count + maxPoints - 1) / maxPoints;
        return points.Where((_, index) => index % stride == 0 || index == points.Count - 1);
    }
}

public sealed record StepPoint(long Step, int Branch, double Loss, double Lr, double GradNorm, bool? NonFinite)
{
    public static StepPoint Of(StepMetrics metrics) =>
        new(metrics.Step, metrics.Branch, metrics.Loss, metrics.LearningRate, metrics.GradNorm, metrics.NonFinite ? true : null);
}

public sealed record EvalPoint(long Step, int Branch, double ValLoss, double? Accuracy, double? BitsPerChar)
{
    public static EvalPoint Of(EvaluationMetrics metrics) => new(metrics.Step, metrics.Branch, metrics.ValLoss, metrics.Accuracy, metrics.BitsPerChar);
}

public sealed record MetricsView(IReadOnlyList<StepPoint> Train, IReadOnlyList<EvalPoint> Eval);

public sealed record CommandView(
    string Id, string Kind, CommandSource Source, TrainerCommand Arguments, CommandStatus Status, string? Reason, long Step,
    DateTimeOffset RequestedAt, DateTimeOffset UpdatedAt);
