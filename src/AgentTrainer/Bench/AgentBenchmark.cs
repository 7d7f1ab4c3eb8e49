using System.Diagnostics;
using AgentTrainer.Agents;
using AgentTrainer.Agents.Supervision;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Training;

namespace AgentTrainer.App.Bench;

/// <summary>Throughput with no agent over throughput with an agent asked every 10 steps: the rules
/// model, and a loopback model answering after 200 ms. Three trainers on the same model and data,
/// alternating in blocks of 20 steps, so the same slow spells hit all three alike.</summary>
public sealed class AgentBenchmark(BenchSettings settings, Action<string> report)
{
    private const int Block = 20;
    private const int DecideEvery = 10;

    public async Task<(double Rules, double SlowModel, int Decisions)> RunAsync(string folder)
    {
        await using SlowModelServer server = await SlowModelServer.StartAsync(TimeSpan.FromMilliseconds(200)).ConfigureAwait(false);
        var contestants = new List<Contestant>();
        try
        {
            contestants.Add(Contestant.Create("none", settings, folder, null));
            contestants.Add(Contestant.Create("rules", settings, folder, new AgentOptions { Provider = AgentProviders.Rules, DecideEvery = DecideEvery }));
            contestants.Add(Contestant.Create("slow-model", settings, folder, new AgentOptions
            {
                Provider = AgentProviders.OpenAI, DecideEvery = DecideEvery,
                OpenAI = new OpenAIProviderOptions { BaseUrl = server.BaseUrl.ToString(), Model = "slow", ApiKeyVariable = "" },
            }));
            report($"agent overhead: {settings.Steps} steps each for no agent, rules and a 200 ms loopback model, alternating in blocks of {Block}");
            foreach (Contestant contestant in contestants)
            {
                contestant.Run.Trainer.Begin();
                contestant.Train(settings.WarmupSteps, measure: false);
            }
            for (int done = 0; done < settings.Steps; done += Block)
            {
                foreach (Contestant contestant in contestants)
                {
                    contestant.Train(Math.Min(Block, settings.Steps - done), measure: true);
                }
            }
            double none = contestants[0].StepsPerSecond, rules = contestants[1].StepsPerSecond, slow = contestants[2].StepsPerSecond;
            report($"steps/s: none {none:F2}, rules {rules:F2}, slow model {slow:F2}");
            int decisions = contestants.Skip(1).Sum(c => c.Agent!.Supervisor.Decisions.Count);
            return (none / rules, none / slow, decisions);
        }
        finally
        {
            foreach (Contestant contestant in contestants)
            {
                await contestant.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private sealed class Contestant : IAsyncDisposable
    {
        private readonly CommandQueue _commands;
        private double _seconds;
        private int _measured;

        private Contestant(CommandQueue commands, TrainingRun run, AgentRun? agent)
        {
            _commands = commands;
            Run = run;
            Agent = agent;
        }

        public TrainingRun Run { get; }
        public AgentRun? Agent { get; }
        public double StepsPerSecond => _measured / _seconds;

        public static Contestant Create(string name, BenchSettings settings, string folder, AgentOptions? agentOptions)
        {
            TrainingOptions options = settings.TrainerOptions(Path.Combine(folder, name));
            var commands = new CommandQueue(TimeProvider.System);
            AgentRun? agent = agentOptions is null ? null : AgentRun.Create(agentOptions, options.Out, commands, TimeProvider.System);
            var run = new TrainingRun(options, commands, TimeProvider.System, agent?.Observers ?? []);
            agent?.Attach(run);
            return new Contestant(commands, run, agent);
        }

        public void Train(int steps, bool measure)
        {
            long started = Stopwatch.GetTimestamp();
            Run.Trainer.RunUntil(Run.Trainer.State.Step + steps, CancellationToken.None);
            if (measure)
            {
                _seconds += Stopwatch.GetElapsedTime(started).TotalSeconds;
                _measured += steps;
            }
        }

        public async ValueTask DisposeAsync()
        {
            if (Agent is not null)
            {
                await Agent.DisposeAsync().ConfigureAwait(false);
            }
            Run.Dispose();
            _commands.Dispose();
        }
    }
}
