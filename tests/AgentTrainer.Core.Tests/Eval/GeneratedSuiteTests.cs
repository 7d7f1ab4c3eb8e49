using System.Text.Json.Nodes;
using AgentTrainer.Eval.Figures;
using AgentTrainer.Eval.Generation;
using AgentTrainer.Eval.Running;
using AgentTrainer.Eval.Suites;

namespace AgentTrainer.Core.Tests.Eval;

/// <summary>eval --generate: a family file drawn into scenarios, their plan (with no-fault twins) and the
/// per-family figures.</summary>
public sealed class GeneratedSuiteTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("families-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static FamilyFile Default => FamilyLoader.Load("eval/families/default.yaml");

    [Fact]
    public void The_same_file_count_and_seed_draw_the_same_scenarios_and_another_seed_others()
    {
        string[] Draw(int seed) => [.. ScenarioGenerator.Generate(Default, 30, seed).Select(s => s.Description + s.Seeds[0])];

        Assert.Equal(Draw(3), Draw(3));
        Assert.NotEqual(Draw(3), Draw(4));
    }

    [Fact]
    public void Drawn_scenarios_stay_within_their_familys_ranges_with_faults_inside_the_run()
    {
        IReadOnlyList<Scenario> scenarios = ScenarioGenerator.Generate(Default, 300, 1);

        foreach (Scenario scenario in scenarios)
        {
            RunFamily family = Default.Families.Single(f => f.Name == scenario.Family);
            Assert.InRange(scenario.Steps, family.Steps.Low, family.Steps.High);
            Assert.InRange(scenario.LearningRate, family.LearningRate.Low, family.LearningRate.High);
            Assert.Contains(scenario.Task, family.Tasks);
            Assert.All(scenario.Faults, f => Assert.InRange(f.Step, 1, scenario.Steps - 1));
            Assert.Equal(family.Faults.Count == 0, scenario.Faults.Count == 0);
            Assert.Equal(scenario.Faults.Count == 0 ? ScenarioExpectation.Keep : ScenarioExpectation.Improve, scenario.Expect);
        }
        Assert.Equal(scenarios.Count, scenarios.Select(s => s.Name).Distinct().Count());
        // Weights decide the shares: a third or so of the default family's runs are healthy.
        double healthy = scenarios.Count(s => s.Faults.Count == 0) / (double)scenarios.Count;
        Assert.InRange(healthy, 0.25, 0.45);
    }

    [Fact]
    public void A_faulty_generated_run_has_a_no_fault_twin_run_by_the_baseline_and_a_healthy_one_none()
    {
        IReadOnlyList<Scenario> scenarios = ScenarioGenerator.Generate(FamilyLoader.Load("eval/families/ci.yaml"), 12, 5);
        Suite suite = SuiteLoader.WithScenarios(scenarios, "eval/contestants.yaml", ["rules"]);
        IReadOnlyList<RunSpec> plan = RunPlanner.Plan(suite, new EvalSettings { OutputFolder = _folder });

        Scenario faulty = scenarios.First(s => s.Faults.Count > 0);
        RunSpec twin = plan.Single(r => r.Scenario.Name == faulty.Name && r.Contestant == RunPlanner.NoFaultTwin);
        JsonNode training = twin.Settings["Training"]!;
        Assert.Empty(training["Faults"]!.AsArray());
        Assert.Equal("none", (string)twin.Settings["Agent"]!["Provider"]!);
        Assert.Equal(Path.Combine(twin.Folder, "run"), (string)training["Out"]!);
        Assert.EndsWith(Path.Combine(faulty.Name, RunPlanner.NoFaultTwin, $"seed-{faulty.Seeds[0]}"), twin.Folder);
        Scenario healthy = scenarios.First(s => s.Faults.Count == 0);
        Assert.DoesNotContain(plan, r => r.Scenario.Name == healthy.Name && r.Contestant == RunPlanner.NoFaultTwin);
        // As a plain run: decisions asynchronous, no evaluation cadence of the harness's own.
        RunSpec rules = plan.First(r => r.Contestant == "rules");
        Assert.False((bool)rules.Settings["Agent"]!["PauseWhileDeciding"]!);
        Assert.Null(rules.Settings["Training"]!["EvalEvery"]);
        Assert.Null(rules.Settings["Agent"]!["DecideEvery"]);
    }

    [Fact]
    public void A_family_that_lists_no_decision_mode_is_run_as_the_eval_says_and_one_that_lists_one_as_it_says()
    {
        string file = Path.Combine(_folder, "modes.yaml");
        File.WriteAllText(file, """
            families:
              - name: as-told
                task: [synthetic]
                steps: [150, 250]
                learning_rate: [5.0e-3, 2.0e-2]
              - name: paused
                task: [synthetic]
                steps: [150, 250]
                learning_rate: [5.0e-3, 2.0e-2]
                decisions: [pause]
            """);
        IReadOnlyList<Scenario> scenarios = ScenarioGenerator.Generate(FamilyLoader.Load(file), 20, 2);
        Suite suite = SuiteLoader.WithScenarios(scenarios, "eval/contestants.yaml", ["rules"]);
        bool Paused(RunSpec run) => (bool)run.Settings["Agent"]!["PauseWhileDeciding"]!;

        foreach (DecisionMode told in new[] { DecisionMode.Async, DecisionMode.Pause })
        {
            IReadOnlyList<RunSpec> plan = RunPlanner.Plan(suite, new EvalSettings { OutputFolder = _folder, Decisions = told });
            Assert.All(plan.Where(r => r.Scenario.Family == "as-told"), r => Assert.Equal(told == DecisionMode.Pause, Paused(r)));
            Assert.All(plan.Where(r => r.Scenario.Family == "paused"), r => Assert.True(Paused(r)));
        }
        Assert.Contains(scenarios, s => s.Family == "as-told");
        Assert.Contains(scenarios, s => s.Family == "paused");
    }

    [Fact]
    public void A_broken_family_file_names_every_problem_with_its_family_and_key()
    {
        string file = Path.Combine(_folder, "bad.yaml");
        File.WriteAllText(file, """
            families:
              - name: Bad_Name
                task: [mnist]
                steps: [300, 100]
                learning_rate: [1.0e-3, 1.0e-2]
                decisions: [sometimes]
                faults:
                  - kind: meteor
                    at: [0.5, 1.5]
            """);

        SuiteException error = Assert.Throws<SuiteException>(() => FamilyLoader.Load(file));
        Assert.Contains("family 'Bad_Name': name: must be lowercase", error.Message);
        Assert.Contains("task: must list tasks among", error.Message);
        Assert.Contains("steps: must be a number or [low, high] with low <= high", error.Message);
        Assert.Contains("decisions: must list async", error.Message);
        Assert.Contains("faults: 'meteor': kind: must be one of", error.Message);
        Assert.Contains("at: must lie strictly between 0 and 1", error.Message);
        Assert.Throws<SuiteException>(() => FamilyLoader.Load(Path.Combine(_folder, "missing.yaml")));
    }

    private static GeneratedOutcome Outcome(bool fault, double none, double agent, double? twin, int interventions = 0,
        long steps = 1000)
    {
        Scenario scenario = ScenarioGenerator.Generate(FamilyLoader.Load("eval/families/ci.yaml"), 40, 2)
            .First(s => (s.Faults.Count > 0) == fault);
        return new GeneratedOutcome
        {
            Scenario = scenario, Contestant = "rules", Baseline = none, NoFault = twin,
            Agent = Figures(agent, interventions, steps),
        };
    }

    private static RunFigures Figures(double final, int rollbacks, long steps) => new()
    {
        Scenario = "s", Contestant = "rules", Seed = 1, Status = "completed", FinalValLoss = final, HasFault = true,
        TrainedSteps = steps, LrHalved = 0, LrDoubled = 0, Rollbacks = rollbacks, StartOvers = 0, RollbacksToWorse = 0,
        LayerResets = 0, Refused = 0, SentToReview = 0, Decisions = 0, ModelCalls = 0, InputTokens = 0,
        OutputTokens = 0, Fallbacks = 0, WallSeconds = 1, Folder = "",
    };

    [Fact]
    public void A_fault_that_hurt_is_repaired_when_the_agent_closes_half_the_gap_to_the_no_fault_twin()
    {
        GeneratedOutcome repaired = Outcome(fault: true, none: 1.0, agent: 0.74, twin: 0.5);
        GeneratedOutcome notRepaired = Outcome(fault: true, none: 1.0, agent: 0.76, twin: 0.5);
        GeneratedOutcome unhurt = Outcome(fault: true, none: 0.505, agent: 0.6, twin: 0.5);

        Assert.True(repaired is { Hurt: true, Repaired: true });
        Assert.Equal(0.74 / 0.5, repaired.Recovery!.Value, 6);
        Assert.True(notRepaired is { Hurt: true, Repaired: false });
        Assert.True(unhurt is { Hurt: false, Repaired: false, WorsenedUnhurt: true });
    }

    [Fact]
    public void A_healthy_run_is_harmed_by_ending_over_2_percent_worse_or_by_more_than_one_intervention_per_1000_steps()
    {
        Assert.False(Outcome(fault: false, none: 1.0, agent: 1.019, twin: null).Harmed);
        Assert.True(Outcome(fault: false, none: 1.0, agent: 1.021, twin: null).Harmed);
        Assert.True(Outcome(fault: false, none: 1.0, agent: 0.9, twin: null, interventions: 2, steps: 1000).Harmed);
        Assert.False(Outcome(fault: false, none: 1.0, agent: 0.9, twin: null, interventions: 2, steps: 2000).Harmed);

        IReadOnlyList<FamilyRow> rows = FamilyFigures.Rows(
        [
            Outcome(fault: true, none: 1.0, agent: 0.6, twin: 0.5),
            Outcome(fault: true, none: 1.0, agent: 0.9, twin: 0.5),
            Outcome(fault: false, none: 1.0, agent: 1.1, twin: null),
            Outcome(fault: false, none: 1.0, agent: 1.0, twin: null),
        ]);
        FamilyRow all = rows.Single(r => r.Family == FamilyRow.All);
        Assert.Equal((4, 2, 1, 2, 1), (all.Runs, all.Hurt, all.Repaired, all.Healthy, all.Harmed));
        Assert.Equal((0.5, 0.5), (all.RepairRate!.Value, all.HarmRate!.Value));
        Assert.Equal(((0.6 / 0.5) + (0.9 / 0.5)) / 2, all.MeanRecovery!.Value, 6);
    }
}
