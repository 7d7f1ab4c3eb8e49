using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Eval.Figures;
using AgentTrainer.Eval.Reports;
using AgentTrainer.Eval.Running;
using AgentTrainer.Eval.Suites;

namespace AgentTrainer.Core.Tests.Eval;

/// <summary>Figures computed from run records written by the real recorder, in a known shape: 60 steps
/// on branch 0 (a fault at step 50), a rollback to step 40, 60 more steps on branch 1.</summary>
public sealed class RunFiguresTests : IDisposable
{
    private static readonly DateTimeOffset Time = new(2026, 11, 24, 0, 0, 0, TimeSpan.Zero);
    private readonly string _folder = Directory.CreateTempSubdirectory("figures-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void ARollbackRun_RecoversTenStepsAfterTheFault_AndCountsEveryTrainedStep()
    {
        RunSpec run = WriteRun(rollback: true);

        (RunFigures figures, RunCurve curve) = RunFiguresReader.Read(run);

        Assert.Equal(120, figures.TrainedSteps); // 60 on branch 0, 60 replayed from step 40 on branch 1
        Assert.Equal(1.8, figures.FinalValLoss);
        Assert.Equal(1.8, figures.BestValLoss);
        Assert.Equal(2.0, figures.PreFaultValLoss); // the evaluation at step 40, the last before the fault at 50
        Assert.Equal(10, figures.RecoverySteps);    // the fault struck at trained step 50; 2.0 <= 1.1 x 2.0 at trained step 60
        Assert.Equal(308.0 / 120, figures.ValLossAuc!.Value, 9);
        Assert.Equal((1, 0, 0, 1, 1), (figures.Rollbacks, figures.LrHalved, figures.LayerResets, figures.Interventions, figures.Refused));
        Assert.Equal(1000.0 / 120, figures.InterventionsPer1000Steps, 9);
        Assert.Equal((2, 300L, 12L, 1), (figures.ModelCalls, figures.InputTokens, figures.OutputTokens, figures.Fallbacks));
        Assert.Equal((20.0, 30.0), (figures.MeanLatencyMs, figures.MaxLatencyMs));
        Assert.Equal([(60L, "rollback_checkpoint")], curve.Interventions);
        Assert.Equal(50, curve.FaultTrainedStep);
    }

    [Fact]
    public void ARunThatStaysAboveItsPreFaultLevel_NeverRecovers()
    {
        (RunFigures figures, _) = RunFiguresReader.Read(WriteRun(rollback: false));

        Assert.Null(figures.RecoverySteps);
        Assert.True(figures.HasFault);
        Assert.Equal(100, figures.TrainedSteps);
        Assert.Equal(0, figures.Interventions);
        Assert.Contains(",never,", ResultsCsv.Write([figures]), StringComparison.Ordinal);
    }

    private RunSpec WriteRun(bool rollback)
    {
        string folder = Path.Combine(_folder, rollback ? "rollback" : "none");
        using (var recorder = new RunRecorder(RunSpec.RunFolderOf(folder), logEvery: 1))
        {
            void Eval(long step, int branch, double loss) => recorder.OnEvaluation(new EvaluationMetrics(step, branch, loss, null, null, []));
            void Train(int branch, long from, long to)
            {
                for (long step = from; step < to; step++)
                {
                    recorder.OnStep(new StepMetrics(step, 0, branch, 3.0, 1e-3, 1, 10, 100, false));
                }
            }
            Eval(0, 0, 4.0);
            Train(0, 0, 20);
            Eval(20, 0, 3.0);
            Train(0, 20, 40);
            Eval(40, 0, 2.0);
            Train(0, 40, 60);
            Eval(60, 0, 5.0);
            if (rollback)
            {
                recorder.OnEvent(new ProposalEvent
                {
                    Time = Time, Step = 55, Branch = 0, ProposalId = "dec-1-p1", Source = CommandSource.Agent, Action = InterventionAction.HalveLearningRate,
                    Reason = "r", Verdict = Verdict.Refuse, Rule = "cooldown_steps", GateReason = "too soon",
                });
                recorder.OnEvent(new ProposalEvent
                {
                    Time = Time, Step = 60, Branch = 0, ProposalId = "dec-2-p1", Source = CommandSource.Agent, Action = InterventionAction.RollbackCheckpoint,
                    CheckpointId = "ckpt-000040-b0", Reason = "r", Verdict = Verdict.Apply, Rule = "apply", GateReason = "ok", CommandId = "cmd-00001",
                });
                recorder.OnEvent(new AgentDecisionEvent
                {
                    Time = Time, Step = 60, Branch = 0, DecisionId = "dec-2", Trigger = "scheduled", Summary = "s", Provider = "openai", Model = "m", ModelErrors = [],
                    ModelCalls = [new ModelCallInfo(1, [], "ok", null, 10, 100, 5, "rollback_checkpoint", null), new ModelCallInfo(2, [], "fallback_keep", "timeout", 30, 200, 7, null, null)],
                });
                // Applied by the gate, but its command failed: not an intervention.
                recorder.OnEvent(new ProposalEvent
                {
                    Time = Time, Step = 58, Branch = 0, ProposalId = "dec-0-p1", Source = CommandSource.Guard, Action = InterventionAction.ResetLayer,
                    Layer = "ghost", Reason = "r", Verdict = Verdict.Apply, Rule = "apply", GateReason = "ok", CommandId = "cmd-00000",
                });
                recorder.OnEvent(new CommandEvent
                {
                    Time = Time, Step = 59, Branch = 0, Id = "cmd-00000", Kind = "model_layer_operation", Source = CommandSource.Guard,
                    Arguments = new ModelLayerOperationCommand("ghost"), Status = CommandStatus.Failed, Reason = "unknown layer ghost",
                });
                recorder.OnEvent(new CommandEvent
                {
                    Time = Time, Step = 60, Branch = 0, Id = "cmd-00001", Kind = "load_checkpoint", Source = CommandSource.Agent,
                    Arguments = new LoadCheckpointCommand("ckpt-000040-b0"), Status = CommandStatus.Succeeded,
                });
                Eval(40, 1, 2.0);
                Train(1, 40, 60);
                Eval(60, 1, 2.1);
                Train(1, 60, 80);
                Eval(80, 1, 1.9);
                Train(1, 80, 100);
                Eval(100, 1, 1.8);
            }
            else
            {
                Train(0, 60, 100);
                Eval(100, 0, 2.5);
            }
            recorder.WriteSummary(new RunSummary
            {
                Status = RunOutcomes.Completed, StartedAt = Time, Configuration = new TrainingOptions(), Seed = 1,
                Environment = new RunEnvironment("1", "0.107", ".NET 10", "Debian", "cpu", 1),
                Final = new FinalFigures { Steps = 100, Branches = rollback ? 2 : 1, FinalValLoss = rollback ? 1.8 : 2.5, NonFiniteSteps = 0, CommandsByKind = new Dictionary<string, int>(), WallSeconds = 3 },
            });
        }
        Scenario scenario = SuiteLoader.Load("eval/scenarios", "eval/contestants.yaml").Scenarios[0];
        return new RunSpec
        {
            Id = "x/rules/seed-1", Scenario = scenario, Contestant = "rules", Seed = 1, Folder = folder, FaultStep = 50, Inputs = [], Settings = [],
        };
    }
}
