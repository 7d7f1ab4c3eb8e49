using System.Text.Json.Nodes;
using AgentTrainer.Eval.Running;
using AgentTrainer.Eval.Suites;

namespace AgentTrainer.Core.Tests.Eval;

public sealed class RunPlannerTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("plan-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private Suite WithReplay()
    {
        string file = Path.Combine(_folder, "contestants.yaml");
        File.WriteAllText(file, "contestants:\n  - name: none\n    agent: none\n  - name: rules\n    agent: rules\n    policy: policies/unattended.yaml\n"
            + "  - name: again\n    agent: replay\n    replay_of: rules\n    policy: policies/unattended.yaml\n");
        return SuiteLoader.Load("eval/scenarios", file);
    }

    [Fact]
    public void EveryScenarioContestantAndSeed_IsOneRun_PlusTheOracleGrid()
    {
        Suite suite = WithReplay();
        IReadOnlyList<RunSpec> plan = RunPlanner.Plan(suite, new EvalSettings { OutputFolder = _folder });

        int expected = suite.Scenarios.Sum(s => s.Seeds.Count * (suite.Contestants.Count + s.OracleLearningRates.Count));
        Assert.Equal(expected, plan.Count);
        Assert.Equal(plan.Count, plan.Select(r => r.Id).Distinct().Count());
        Assert.Contains(plan, r => r.Id == "06-fashion-healthy/oracle-lr-3e-4/seed-2" && r.OracleLearningRate == 3e-4);

        RunSpec oracle = plan.First(r => r.IsOracle);
        Assert.Equal("constant", (string)oracle.Settings["Training"]!["Schedule"]!);
        Assert.Equal("none", (string)oracle.Settings["Agent"]!["Provider"]!);
        Assert.Equal(1, plan.Count(r => r.Id == "01-charlm-lr-too-high/again/seed-3"));
    }

    [Fact]
    public void ARunsSettings_FixWhatDecidesItsOutcome()
    {
        RunSpec run = RunPlanner.Plan(WithReplay(), new EvalSettings
            {
                OutputFolder = _folder, ThreadsPerRun = 2, Decisions = AgentTrainer.Eval.Generation.DecisionMode.Pause,
            })
            .Single(r => r.Id == "02-charlm-lr-spike/again/seed-2");

        JsonNode training = run.Settings["Training"]!;
        Assert.Equal(2, (int)training["Seed"]!);
        Assert.Equal(2, (int)training["Threads"]!);
        Assert.Equal(1, (int)training["LogEvery"]!);
        Assert.Equal(Path.Combine(run.Folder, "run"), (string)training["Out"]!);
        Assert.Equal(Path.Combine(Path.GetFullPath(_folder), "runs", "02-charlm-lr-spike", "again", "seed-2"), run.Folder);
        Assert.Equal("lr-spike", (string)training["Faults"]![0]!["Kind"]!);
        Assert.Equal(300, (int)training["Faults"]![0]!["Step"]!);
        Assert.True((bool)run.Settings["Agent"]!["PauseWhileDeciding"]!);
        Assert.False((bool)run.Settings["ControlPlane"]!["Enabled"]!);
        // A replay reads the decisions its source recorded in the same scenario and seed, and waits for it.
        Assert.Equal("02-charlm-lr-spike/rules/seed-2", run.ReplayOf);
        Assert.Equal(Path.Combine(_folder, "runs", "02-charlm-lr-spike", "rules", "seed-2", "run", "decisions.jsonl"),
            (string)run.Settings["Agent"]!["Replay"]!["Transcript"]!);
    }

    [Fact]
    public void By_default_runs_decide_asynchronously_on_the_runs_own_threads_and_checkpoint_cadence()
    {
        JsonNode settings = RunPlanner.Plan(WithReplay(), new EvalSettings { OutputFolder = _folder })
            .Single(r => r.Id == "02-charlm-lr-spike/rules/seed-1").Settings;

        Assert.False((bool)settings["Agent"]!["PauseWhileDeciding"]!);
        Assert.Equal(0, (int)settings["Training"]!["Threads"]!);
        Assert.Null(settings["Training"]!["CheckpointEvery"]);
        Assert.Null(settings["Training"]!["SnapshotEvery"]);
    }

    [Fact]
    public void A_scenario_of_your_own_loop_hands_its_assembly_to_every_run_and_a_built_in_one_none()
    {
        IReadOnlyList<RunSpec> plan = RunPlanner.Plan(WithReplay(), new EvalSettings { OutputFolder = _folder });
        JsonNode own = plan.Single(r => r.Id == "11-own-loop-lr-spike/rules/seed-1").Settings["Training"]!;
        Assert.Equal(("char-mlp-loop", "AgentTrainer.Samples.CharMlpLoop.dll"), ((string)own["Task"]!, (string)own["TaskAssembly"]!));
        Assert.Null(plan.Single(r => r.Id == "02-charlm-lr-spike/rules/seed-1").Settings["Training"]!["TaskAssembly"]);
    }

    [Fact]
    public void AReducedSuite_ScalesEveryStepCount_AndKeepsTheFirstSeeds()
    {
        IReadOnlyList<RunSpec> plan = RunPlanner.Plan(WithReplay(),
            new EvalSettings { OutputFolder = _folder, StepScale = 0.1, MaxSeeds = 1, Overrides = new Dictionary<string, string> { ["Agent:DecideEvery"] = "7" } });

        Assert.All(plan, r => Assert.Equal(1, r.Seed));
        RunSpec run = plan.Single(r => r.Id == "03-fashion-corrupt-batches/rules/seed-1");
        JsonNode training = run.Settings["Training"]!;
        Assert.Equal((150, 60, 5), ((int)training["Steps"]!, (int)training["Faults"]![0]!["Step"]!, (int)training["EvalEvery"]!));
        Assert.Equal(60, run.FaultStep);
        Assert.Equal("7", (string)run.Settings["Agent"]!["DecideEvery"]!); // --set wins over the scenario's
    }

    [Fact]
    public void TheFingerprint_ChangesWithTheSettingsAndWithThePolicyFilesContent()
    {
        string policy = Path.Combine(_folder, "policy.yaml");
        File.Copy("policies/unattended.yaml", policy);
        string file = Path.Combine(_folder, "contestants.yaml");
        File.WriteAllText(file, $"contestants:\n  - name: none\n    agent: none\n  - name: rules\n    agent: rules\n    policy: {policy}\n");
        RunSpec Rules(int seed) => RunPlanner.Plan(SuiteLoader.Load("eval/scenarios", file), new EvalSettings { OutputFolder = _folder })
            .Single(r => r.Id == $"06-fashion-healthy/rules/seed-{seed}");

        string first = EvalRunner.Fingerprint(Rules(1));
        Assert.Equal(first, EvalRunner.Fingerprint(Rules(1)));
        Assert.NotEqual(first, EvalRunner.Fingerprint(Rules(2)));
        File.AppendAllText(policy, "# an edit\n");
        Assert.NotEqual(first, EvalRunner.Fingerprint(Rules(1)));
    }
}
