using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Eval.Running;

namespace AgentTrainer.Eval.Figures;

/// <summary>Computes a run's figures from its folder. Metrics lines are in the order they happened, so
/// a line's position among the train lines is its trained step, across branches.</summary>
public static class RunFiguresReader
{
    /// <summary>"Recovered" means back within this factor of the pre-fault validation loss.</summary>
    public const double RecoveryTolerance = 1.10;

    /// <summary>A rollback's checkpoint this much worse than the run's best (the shipped policies' max_regression) counts as "to worse".</summary>
    public const double RegressionTolerance = 0.05;

    public static (RunFigures Figures, RunCurve Curve) Read(RunSpec run)
    {
        RunSummary summary = RunRecordReader.ReadSummary(run.RunFolder) ?? throw new InvalidDataException($"{run.RunFolder}: no run.json.");
        IReadOnlyList<RunEvent> events = RunRecordReader.ReadEvents(run.RunFolder);
        Timeline timeline = Timeline.Read(run.RunFolder);

        // An intervention is a proposal the gate applied whose command then succeeded (a rollback to a
        // checkpoint that no longer exists fails, and changes nothing).
        HashSet<string> succeeded = [.. events.OfType<CommandEvent>().Where(c => c.Status == CommandStatus.Succeeded).Select(c => c.Id)];
        ProposalEvent[] applied = [.. events.OfType<ProposalEvent>()
            .Where(p => p.Verdict == Verdict.Apply && p.Action != InterventionAction.KeepLearningRate && p.CommandId is { } id && succeeded.Contains(id))];
        AgentDecisionEvent[] decisions = [.. events.OfType<AgentDecisionEvent>()];
        ModelCallInfo[] calls = [.. decisions.SelectMany(d => d.ModelCalls)];
        double[] evaluations = [.. timeline.Evaluations.Select(e => e.ValLoss).Where(double.IsFinite)];

        long? faultAt = run.FaultStep is { } faultStep ? timeline.FirstTrainedStepAt(faultStep) : null;
        double? preFault = faultAt is { } at ? timeline.Evaluations.Where(e => e.TrainedStep <= at && double.IsFinite(e.ValLoss)).Select(e => (double?)e.ValLoss).LastOrDefault() : null;
        long? recovery = faultAt is { } struck && preFault is { } level
            ? timeline.Evaluations.Where(e => e.TrainedStep > struck && e.ValLoss <= RecoveryTolerance * level).Select(e => (long?)(e.TrainedStep - struck)).FirstOrDefault()
            : null;

        var figures = new RunFigures
        {
            Scenario = run.Scenario.Name,
            Contestant = run.Contestant,
            Seed = run.Seed,
            Status = summary.Status,
            FinalValLoss = Finite(summary.Final?.FinalValLoss),
            BestValLoss = evaluations.Length > 0 ? evaluations.Min() : null,
            BestCheckpointValLoss = Finite(summary.Final?.BestCheckpointValLoss),
            ValLossAuc = timeline.MeanValLoss(),
            FinalAccuracy = summary.Final?.FinalAccuracy,
            FinalBitsPerChar = Finite(summary.Final?.FinalBitsPerChar),
            PreFaultValLoss = preFault,
            RecoverySteps = recovery,
            HasFault = run.FaultStep is not null,
            TrainedSteps = timeline.TrainedSteps,
            LrHalved = applied.Count(p => p.Action == InterventionAction.HalveLearningRate),
            LrDoubled = applied.Count(p => p.Action == InterventionAction.DoubleLearningRate),
            Rollbacks = applied.Count(p => p.Action == InterventionAction.RollbackCheckpoint),
            StartOvers = 0,
            RollbacksToWorse = 0,
            LayerResets = applied.Count(p => p.Action == InterventionAction.ResetLayer),
            Explorations = applied.Count(p => p.Action == InterventionAction.ExploreLearningRate),
            DataSkips = applied.Count(p => p.Action == InterventionAction.SkipData),
            ExplorationsMoved = events.OfType<ExplorationFinishedEvent>()
                .Where(e => e.Candidates.Single(c => c.Branch == e.ChosenBranch).LearningRateFactor != 1)
                .Select(e => e.CommandId).Distinct(StringComparer.Ordinal).Count(),
            Refused = events.OfType<ProposalEvent>().Count(p => p.Verdict == Verdict.Refuse),
            SentToReview = events.OfType<ProposalEvent>().Count(p => p.Verdict == Verdict.Review),
            Decisions = decisions.Length,
            ModelCalls = calls.Length,
            InputTokens = calls.Sum(c => (long)(c.InputTokens ?? 0)),
            OutputTokens = calls.Sum(c => (long)(c.OutputTokens ?? 0)),
            MeanLatencyMs = calls.Length > 0 ? calls.Average(c => c.LatencyMs) : null,
            MaxLatencyMs = calls.Length > 0 ? calls.Max(c => c.LatencyMs) : null,
            Fallbacks = calls.Count(c => c.Outcome != "ok"),
            WallSeconds = summary.Final?.WallSeconds ?? 0,
            Folder = run.RunFolder,
        };
        Dictionary<string, InterventionAction> actionOf = applied.ToDictionary(p => p.CommandId!, p => p.Action, StringComparer.Ordinal);
        var marks = events.OfType<CommandEvent>()
            .Where(c => c.Status == CommandStatus.Succeeded && actionOf.ContainsKey(c.Id))
            .Select(c => (timeline.TrainedStepAt(c.Branch, c.Step), InterventionActions.Name(actionOf[c.Id])))
            .ToList();
        (int startOvers, int toWorse) = JudgeRollbacks(events, applied, timeline);
        figures = figures with { StartOvers = startOvers, RollbacksToWorse = toWorse };
        return (figures, new RunCurve([.. timeline.Evaluations.Select(e => (e.TrainedStep, e.ValLoss))], marks, faultAt));
    }

    /// <summary>Each applied rollback judged as the run stood when it was made: to its start, or to a checkpoint
    /// whose validation loss (the latest evaluation of its branch at or before it) was worse than the best so far.</summary>
    private static (int StartOvers, int ToWorse) JudgeRollbacks(IReadOnlyList<RunEvent> events, ProposalEvent[] applied, Timeline timeline)
    {
        Dictionary<string, CheckpointSavedEvent> saved = [];
        foreach (CheckpointSavedEvent checkpoint in events.OfType<CheckpointSavedEvent>())
        {
            saved[checkpoint.CheckpointId] = checkpoint;
        }
        Dictionary<string, CommandEvent> done = events.OfType<CommandEvent>().Where(c => c.Status == CommandStatus.Succeeded)
            .GroupBy(c => c.Id).ToDictionary(g => g.Key, g => g.First(), StringComparer.Ordinal);
        int startOvers = 0, toWorse = 0;
        foreach (ProposalEvent rollback in applied.Where(p => p.Action == InterventionAction.RollbackCheckpoint))
        {
            if (!saved.TryGetValue(rollback.CheckpointId ?? "", out CheckpointSavedEvent? target) || !done.TryGetValue(rollback.CommandId!, out CommandEvent? command))
            {
                continue;
            }
            if (target.Step == 0)
            {
                startOvers++;
                continue;
            }
            long at = timeline.TrainedStepAt(command.Branch, command.Step);
            var before = timeline.Evaluations.Where(e => e.TrainedStep <= at && double.IsFinite(e.ValLoss)).ToList();
            double? loss = before.Where(e => e.Branch == target.Branch && e.Step <= target.Step).Select(e => (double?)e.ValLoss).LastOrDefault();
            if (before.Count > 0 && loss is { } value && value > before.Min(e => e.ValLoss) * (1 + RegressionTolerance))
            {
                toWorse++;
            }
        }
        return (startOvers, toWorse);
    }

    private static double? Finite(double? value) => value is { } v && double.IsFinite(v) ? v : null;

    /// <summary>metrics.jsonl as a sequence in time: train lines counted, evaluations placed among them.</summary>
    private sealed class Timeline
    {
        private readonly Dictionary<(int Branch, long Step), long> _trainedAt = [];
        private readonly Dictionary<long, long> _firstAtStep = [];

        public List<(long TrainedStep, double ValLoss, int Branch, long Step)> Evaluations { get; } = [];
        public long TrainedSteps { get; private set; }

        public static Timeline Read(string folder)
        {
            var timeline = new Timeline();
            foreach ((StepMetrics? step, EvaluationMetrics? evaluation) in RunRecordReader.ReadMetricsInOrder(folder))
            {
                if (step is not null)
                {
                    timeline._trainedAt.TryAdd((step.Branch, step.Step), timeline.TrainedSteps);
                    timeline._firstAtStep.TryAdd(step.Step, timeline.TrainedSteps);
                    timeline.TrainedSteps++;
                }
                else
                {
                    timeline.Evaluations.Add((timeline.TrainedSteps, evaluation!.ValLoss, evaluation.Branch, evaluation.Step));
                }
            }
            return timeline;
        }

        public long? FirstTrainedStepAt(long step) => _firstAtStep.TryGetValue(step, out long at) ? at : null;

        /// <summary>Where a command applied before step <paramref name="step"/> of a branch falls.</summary>
        public long TrainedStepAt(int branch, long step) =>
            _trainedAt.TryGetValue((branch, step), out long at) ? at
            : _trainedAt.TryGetValue((branch, step - 1), out long before) ? before + 1 // the branch ended there (a rollback)
            : TrainedSteps;

        /// <summary>Trapezoids between evaluations, divided by the trained steps they span.</summary>
        public double? MeanValLoss()
        {
            var points = Evaluations.Where(p => double.IsFinite(p.ValLoss)).ToList();
            if (points.Count < 2 || points[^1].TrainedStep == points[0].TrainedStep)
            {
                return points.Count == 1 ? points[0].ValLoss : null;
            }
            double area = 0;
            for (int i = 1; i < points.Count; i++)
            {
                area += (points[i].TrainedStep - points[i - 1].TrainedStep) * (points[i].ValLoss + points[i - 1].ValLoss) / 2;
            }
            return area / (points[^1].TrainedStep - points[0].TrainedStep);
        }
    }
}
