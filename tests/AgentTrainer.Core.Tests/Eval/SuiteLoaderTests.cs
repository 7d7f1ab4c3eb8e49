using AgentTrainer.Core.Options;
using AgentTrainer.Eval.Suites;

namespace AgentTrainer.Core.Tests.Eval;

public sealed class SuiteLoaderTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("suite-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    [Fact]
    public void TheShippedSuite_CoversTheSixTroubles_OnBothTasks_AndYourOwnLoop()
    {
        Suite suite = SuiteLoader.Load("eval/scenarios", "eval/contestants.yaml");

        Assert.Equal("none", suite.Baseline);
        Assert.Equal(["none", "cosine", "rules", "rules-explore", "data"], suite.Contestants.Select(c => c.Name));
        Assert.Equal(Path.GetFullPath("policies/explore.yaml"),
            Path.GetFullPath(suite.Contestants.Single(c => c.Name == "rules-explore").Policy!));
        Assert.Equal(Path.GetFullPath("policies/unattended.yaml"), Path.GetFullPath(suite.Contestants.Single(c => c.Name == "rules").Policy!));
        Assert.Equal(ScheduleNames.Cosine, suite.Contestants.Single(c => c.Name == "cosine").Schedule);
        Assert.Equal([TaskNames.CharLm, "char-mlp-loop", TaskNames.FashionMnist], suite.Scenarios.Select(s => s.Task).Distinct().Order());
        Scenario ownLoop = suite.Scenarios.Single(s => s.Task == "char-mlp-loop");
        Assert.Equal(("AgentTrainer.Samples.CharMlpLoop.dll", ""), (ownLoop.TaskAssembly, ownLoop.Model));
        Assert.All(suite.Scenarios.Where(s => s != ownLoop), s => Assert.Null(s.TaskAssembly));
        Scenario tooHigh = suite.Scenarios.Single(s => s.Name == "01-charlm-lr-too-high");
        Assert.Equal((5e-3, ScheduleNames.Constant, 0), (tooHigh.LearningRate, tooHigh.Schedule, tooHigh.Faults.Count));
        Assert.Equal(50, suite.Scenarios.Single(s => s.Name == "02-charlm-lr-spike").Faults.Single().Factor);
        Assert.Equal(
            [FaultKinds.CorruptBatches, FaultKinds.DataArrives, FaultKinds.LrSpike, FaultKinds.ScaleLayer, FaultKinds.ZeroLayer],
            suite.Scenarios.SelectMany(s => s.Faults).Select(f => f.Kind).Distinct().Order());
        Assert.Contains(suite.Scenarios, s => s.LearningRate <= 1e-5 && s.Faults.Count == 0);
        Scenario[] healthy = [.. suite.Scenarios.Where(s => s.Expect == ScenarioExpectation.Keep)];
        Assert.Equal(4, healthy.Length);
        Assert.All(healthy, s => Assert.Empty(s.Faults));
        Assert.Equal(3, healthy.Count(s => s.OracleLearningRates.Count >= 3));
        // The agent's blind spot: an lr wrong by far on a curve that looks healthy, each with a grid to be judged by.
        Assert.Equal(2, suite.Scenarios.Count(s => s.Expect == ScenarioExpectation.Improve && s.Faults.Count == 0
            && s.Schedule == ScheduleNames.Constant && s.OracleLearningRates.Count >= 4));
        Assert.All(suite.Scenarios, s => Assert.Equal([1, 2, 3], s.Seeds));
        // Overnight length: the paper's unstable start and a healthy run at 1500 char-lm steps, Fashion-MNIST at 3000.
        Scenario[] longCharLm = [.. suite.Scenarios.Where(s => s.Task == TaskNames.CharLm && s.Steps >= 1500)];
        Assert.Contains(longCharLm, s => s.LearningRate == 5e-3 && s.Schedule == ScheduleNames.Constant);
        Assert.Contains(longCharLm, s => s.Expect == ScenarioExpectation.Keep);
        Assert.Contains(suite.Scenarios, s => s.Task == TaskNames.FashionMnist && s.Steps >= 3000 && s.Expect == ScenarioExpectation.Keep);
    }

    public static TheoryData<string, string, string> BadScenarios => new()
    {
        { "steps: 600\ntask: char-lm\nlearning_rate: 1e-3\nseeds: [1]\nexpect: keep\nsteps_total: 5\n", "bad.yaml:6:", "steps_total" },
        { "task: char-lm\nsteps: many\n", "bad.yaml:2:", "many" },
        { "task: mnist\nsteps: 100\nseeds: [1]\nlearning_rate: 1e-3\nexpect: keep\n", "bad.yaml: task:", "mnist" },
        { "task: char-lm\ntask_assembly: Mine.dll\nsteps: 100\nseeds: [1]\nlearning_rate: 1e-3\nexpect: keep\n", "bad.yaml: task:",
            "must name a task of task_assembly's, not a built-in one; got 'char-lm'." },
        { "task: mine\ntask_assembly: Mine.dll\nmodel: cnn\nsteps: 100\nseeds: [1]\nlearning_rate: 1e-3\nexpect: keep\n", "bad.yaml: model:",
            "chooses a built-in task's model; 'mine' builds its own." },
        { "task: char-lm\nsteps: 100\nseeds: [1]\nlearning_rate: 1e-3\nexpect: keep\nfaults: [\"lr-spike:step=500,factor=50\"]\n", "bad.yaml: faults:", "step must be within the run" },
        { "task: char-lm\nsteps: 100\nseeds: [1]\nlearning_rate: 1e-3\nexpect: keep\nfaults: [\"meltdown:step=5\"]\n", "bad.yaml: faults:", "meltdown" },
        { "task: char-lm\nsteps: 100\nseeds: [1, 1]\nlearning_rate: -1\nexpect: maybe\n", "bad.yaml: seeds:", "expect" },
        { "task: char-lm\nsteps: 100\nseeds: [1]\nlearning_rate: 1e-3\nexpect: keep\nsettings:\n  Training:Out: /tmp/x\n", "bad.yaml: settings:", "set by the eval harness" },
        { "task: char-lm\nsteps: 100\nseeds: [1]\nlearning_rate: 1e-3\nexpect: keep\nsettings:\n  Logging:Level: Debug\n", "bad.yaml: settings:", "not a Training: or Agent:" },
    };

    [Theory]
    [MemberData(nameof(BadScenarios))]
    public void ABadScenario_IsRefusedBeforeAnythingRuns_NamingTheFileAndTheProblem(string yaml, string where, string what)
    {
        string scenarios = Directory.CreateDirectory(Path.Combine(_folder, "scenarios")).FullName;
        File.WriteAllText(Path.Combine(scenarios, "bad.yaml"), yaml);
        File.Copy("eval/scenarios/06-fashion-healthy.yaml", Path.Combine(scenarios, "good.yaml"));

        var error = Assert.Throws<SuiteException>(() => SuiteLoader.Load(scenarios, "eval/contestants.yaml"));

        Assert.Contains(where, error.Message, StringComparison.Ordinal);
        Assert.Contains(what, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain("good.yaml", error.Message, StringComparison.Ordinal);
    }

    public static TheoryData<string, string> BadContestants => new()
    {
        { "contestants:\n  - name: a\n    agent: rules\n  - name: a\n    agent: none\n", "used twice" },
        { "contestants:\n  - name: Big Name\n    agent: none\n", "lowercase" },
        { "contestants:\n  - name: a\n    agent: gpt5\n", "agent must be one of" },
        { "contestants:\n  - name: none\n    agent: none\n  - name: r\n    agent: replay\n    replay_of: ghost\n", "replay_of 'ghost'" },
        { "contestants:\n  - name: none\n    agent: none\n  - name: r\n    agent: replay\n", "either replay_of" },
        { "contestants:\n  - name: none\n    agent: rules\n    policy: policies/missing.yaml\n", "does not exist" },
        { "contestants:\n  - name: none\n    agent: rules\n    prompt: prompts/missing.md\n", "prompt prompts/missing.md does not exist" },
        { "baseline: nobody\ncontestants:\n  - name: none\n    agent: none\n", "baseline: 'nobody'" },
        { "contestants:\n  - name: oracle-lr-1e-3\n    agent: none\n", "kept for the oracle" },
        { "contestants:\n  - name: none\n    agent: none\n    temperature: 2\n", "contestants.yaml:4:" },
    };

    [Theory]
    [MemberData(nameof(BadContestants))]
    public void BadContestants_AreRefused_WithWhatIsWrong(string yaml, string what)
    {
        string file = Path.Combine(_folder, "contestants.yaml");
        File.WriteAllText(file, yaml);

        var error = Assert.Throws<SuiteException>(() => SuiteLoader.Load("eval/scenarios", file));

        Assert.Contains(what, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void APolicyWithErrors_IsReportedThroughTheContestant()
    {
        string policy = Path.Combine(_folder, "broken.yaml");
        File.WriteAllText(policy, "name: broken\nlearning_rate:\n  min: 1\n  max: 0.1\n");
        string file = Path.Combine(_folder, "contestants.yaml");
        File.WriteAllText(file, $"contestants:\n  - name: none\n    agent: none\n  - name: r\n    agent: rules\n    policy: {policy}\n");

        var error = Assert.Throws<SuiteException>(() => SuiteLoader.Load("eval/scenarios", file));

        Assert.Contains("contestant 'r': policy:", error.Message, StringComparison.Ordinal);
        Assert.Contains("must be below max", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void PickingScenariosAndContestants_KeepsTheBaselineAndWhatAReplayNeeds()
    {
        string file = Path.Combine(_folder, "contestants.yaml");
        File.WriteAllText(file, "contestants:\n  - name: none\n    agent: none\n  - name: rules\n    agent: rules\n  - name: cosine\n    agent: none\n    schedule: cosine\n"
            + "  - name: again\n    agent: replay\n    replay_of: rules\n");

        Suite suite = SuiteLoader.Load("eval/scenarios", file, ["06-fashion-healthy"], ["again"]);

        Assert.Equal(["06-fashion-healthy"], suite.Scenarios.Select(s => s.Name));
        Assert.Equal(["none", "rules", "again"], suite.Contestants.Select(c => c.Name));
        var unknown = Assert.Throws<SuiteException>(() => SuiteLoader.Load("eval/scenarios", file, ["no-such"], []));
        Assert.Contains("--scenario no-such: no such scenario", unknown.Message, StringComparison.Ordinal);
    }
}
