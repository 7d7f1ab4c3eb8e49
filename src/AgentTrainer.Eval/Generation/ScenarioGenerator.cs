using AgentTrainer.Core.Options;
using AgentTrainer.Eval.Suites;

namespace AgentTrainer.Eval.Generation;

/// <summary>Draws N scenarios from a family file: the same file, N and seed give the same scenarios (names,
/// settings and seeds), so a generated suite can be re-run, resumed and compared like a shipped one. Each
/// scenario is one run of one seed: a distribution is measured by many runs, not by seeds of a few.</summary>
public static class ScenarioGenerator
{
    /// <summary>Bursts of a repeated fault end before this fraction of the run: each has steps left to hurt.</summary>
    private const double LastBurstBefore = 0.9;

    public static IReadOnlyList<Scenario> Generate(FamilyFile file, int count, int seed)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(count, 1);
        var random = new Random(seed); // the seeded generator's sequence is fixed across .NET versions
        double total = file.Families.Sum(f => f.Weight);
        var scenarios = new List<Scenario>(count);
        for (int index = 1; index <= count; index++)
        {
            RunFamily family = Pick(file.Families, random.NextDouble() * total);
            scenarios.Add(Draw(file, family, index, random));
        }
        return scenarios;
    }

    private static RunFamily Pick(IReadOnlyList<RunFamily> families, double point)
    {
        foreach (RunFamily family in families)
        {
            point -= family.Weight;
            if (point < 0)
            {
                return family;
            }
        }
        return families[^1];
    }

    private static Scenario Draw(FamilyFile file, RunFamily family, int index, Random random)
    {
        string task = Choose(family.Tasks, random);
        string[] models = [.. family.Models.Where(m => ModelNames.ForTask(task).Contains(m))];
        string model = models.Length == 0 ? "" : Choose(models, random);
        int steps = (int)Math.Round(LogUniform(family.Steps.Low, family.Steps.High, random));
        double lr = LogUniform(family.LearningRate.Low, family.LearningRate.High, random);
        string schedule = Choose(family.Schedules, random);
        List<FaultOptions> faults = [.. family.Faults.SelectMany(f => DrawFault(f, steps, random))];
        int threads = Choose(family.Threads, random);
        DecisionMode? decisions = Choose(family.Decisions, random);
        int runSeed = random.Next(1, 1_000_000);
        string faultText = faults.Count == 0 ? "no fault"
            : string.Join(", ", faults.Select(f => $"{f.Kind} at step {f.Step}"));
        return new Scenario
        {
            Name = $"{family.Name}-{index:D3}",
            Source = file.Source,
            Description = $"Drawn from family {family.Name}: {task}{(model.Length > 0 ? " / " + model : "")}, "
                + $"{steps} steps, lr {lr:G3} {schedule}, {faultText}.",
            Task = task,
            TaskAssembly = family.TaskAssembly,
            Model = model,
            Steps = steps,
            Seeds = [runSeed],
            LearningRate = lr,
            Schedule = schedule,
            WarmupSteps = 0,
            BatchSize = 0,
            EvalEvery = null,
            DecideEvery = null,
            Faults = faults,
            Expect = faults.Count == 0 ? ScenarioExpectation.Keep : ScenarioExpectation.Improve,
            OracleLearningRates = [.. family.OracleFactors.Select(f => f * lr)],
            Settings = family.Settings,
            Family = family.Name,
            Threads = threads,
            Decisions = decisions,
        };
    }

    /// <summary>One fault, or a repeated one as bursts evenly spaced from its first step to near the run's end.</summary>
    private static IEnumerable<FaultOptions> DrawFault(FaultRange range, int steps, Random random)
    {
        double at = Uniform(range.At.Low, range.At.High, random);
        double factor = LogUniform(range.Factor.Low, range.Factor.High, random);
        int count = random.Next(range.Count.Low, range.Count.High + 1);
        int repeat = random.Next(range.Repeat.Low, range.Repeat.High + 1);
        string layer = range.Layers.Count == 0 ? "" : Choose(range.Layers, random);
        double spacing = repeat == 1 ? 0 : Math.Max(0, LastBurstBefore - at) / repeat;
        for (int burst = 0; burst < repeat; burst++)
        {
            int step = Math.Clamp((int)Math.Round((at + (burst * spacing)) * steps), 1, steps - 1);
            yield return new FaultOptions { Kind = range.Kind, Step = step, Factor = factor, Count = count, Layer = layer };
        }
    }

    private static T Choose<T>(IReadOnlyList<T> choices, Random random) => choices[random.Next(choices.Count)];

    private static double Uniform(double low, double high, Random random) => low + (random.NextDouble() * (high - low));

    private static double LogUniform(double low, double high, Random random) =>
        Math.Exp(Uniform(Math.Log(low), Math.Log(high), random));
}
