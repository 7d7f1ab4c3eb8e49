using AgentTrainer.Agents.Storage;
using AgentTrainer.Agents.Supervision;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;

namespace AgentTrainer.Agents.Tests;

/// <summary>The supervisor's loop against a fake run, with the rules agent on Semantic Kernel's real
/// function-calling path: what it holds the run for, what it applies, and that it ends complete.</summary>
public sealed class AgentSupervisorTests : IAsyncLifetime, IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("supervisor-").FullName;
    private FakeRun _run = null!;
    private AgentRun _agent = null!;

    private async Task StartAsync(string policy, bool pauseWhileDeciding, int decideEvery = 20)
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync();
            _run.Dispose();
        }
        _run = new FakeRun(TimeProvider.System);
        var options = new AgentOptions
        {
            Provider = AgentProviders.Rules, Policy = $"policies/{policy}.yaml", DecideEvery = decideEvery,
            PauseWhileDeciding = pauseWhileDeciding,
        };
        _agent = AgentRun.Create(options, _folder, _run.Commands, TimeProvider.System);
        foreach (IRunObserver observer in _agent.Observers)
        {
            _run.Watch(observer);
        }
        _agent.Attach(_run);
    }

    public Task InitializeAsync() => Task.CompletedTask;

    [Fact]
    public async Task Paused_while_deciding_the_run_is_held_at_each_decision_until_it_is_made()
    {
        await StartAsync("unattended", pauseWhileDeciding: true);
        for (int i = 0; i < 60; i++)
        {
            _run.Step(2.0 - (0.01 * i));
            int expected = (i + 1) / 20; // steps 19, 39, 59
            Assert.Equal(expected, _agent.Supervisor.Decisions.Count);
        }
        Assert.Equal([20L, 40L, 60L], _agent.Supervisor.Decisions.Select(d => d.Step));
    }

    [Fact]
    public async Task A_loss_far_above_its_best_is_rolled_back_and_the_rollback_is_measured_once_applied()
    {
        await StartAsync("unattended", pauseWhileDeciding: true, decideEvery: 50);
        List<CommandRecord> applied = [];
        void Train(int steps, Func<int, double> loss)
        {
            for (int i = 0; i < steps; i++)
            {
                _run.Step(loss(i));
                applied.AddRange(_run.ApplyQueued()); // at the step boundary, as a trainer does
                if (_run.State.Step == 100)
                {
                    _run.SaveCheckpoint(100, 2.4);
                }
            }
        }
        Train(200, i => (3.0 * Math.Exp(-i / 300.0)) + (0.02 * Math.Sin(i))); // a healthy decline
        Train(50, i => 4.0 + (0.02 * Math.Sin(i))); // broken since step 200: the decision at step 250 sees it
        CommandRecord rollback = Assert.Single(applied);
        Assert.Equal("ckpt-000100-b0", Assert.IsType<LoadCheckpointCommand>(rollback.Command).CheckpointId);
        Assert.Equal(CommandSource.Agent, rollback.Source);
        ProposalEvent proposal = _run.Recorded.OfType<ProposalEvent>().Single(p => p.Action == InterventionAction.RollbackCheckpoint);
        Assert.Equal((Verdict.Apply, rollback.Id), (proposal.Verdict, proposal.CommandId));

        Train(51, _ => 2.0);
        await _agent.Supervisor.SettledAsync();
        InterventionEffectEvent effect = Assert.Single(_run.Recorded.OfType<InterventionEffectEvent>());
        Assert.Equal(proposal.ProposalId, effect.ProposalId);
        Assert.True(effect.LossAfter < effect.LossBefore, $"{effect.LossBefore} -> {effect.LossAfter}");
    }

    [Fact]
    public async Task A_non_finite_loss_is_met_by_the_guard_before_the_run_takes_another_step_even_when_not_paused()
    {
        await StartAsync("unattended", pauseWhileDeciding: false, decideEvery: 1000);
        for (int i = 0; i < 30; i++)
        {
            _run.Step(2.0);
        }
        _run.SaveCheckpoint(20, 2.0);
        _run.Step(double.NaN);
        CommandRecord guard = Assert.Single(_run.ApplyQueued(), c => c.Source == CommandSource.Guard);
        Assert.Equal("ckpt-000020-b0", Assert.IsType<LoadCheckpointCommand>(guard.Command).CheckpointId);
    }

    [Fact]
    public async Task The_runs_end_waits_for_everything_before_it_so_an_approvals_fate_is_recorded()
    {
        await StartAsync("supervised", pauseWhileDeciding: true, decideEvery: 1000);
        var proposal = new Proposal
        {
            Id = "late", Action = InterventionAction.HalveLearningRate, Reason = "test", Source = CommandSource.Agent,
            BasedOnStep = 0, BasedOnBranch = 0,
        };
        _agent.Reviews.Add(proposal, new GateDecision(Verdict.Review, "approval.required_for", "needs a person"), "s",
            TimeSpan.FromHours(1));
        Assert.Null(_agent.Reviews.Decide("late", approve: true, reviewer: "dana", comment: null));
        await _agent.Supervisor.ProcessReviewsAsync();
        Assert.Equal(ReviewStatus.Queued, _agent.Reviews.List().Single().Status);

        _run.Commands.Close(0, "not applied: the run ended (completed) at step 0 first");
        _run.Finish(); // returns once the cancellation has reached the review

        ReviewItem item = _agent.Reviews.List().Single();
        Assert.Equal(ReviewStatus.Approved, item.Status);
        Assert.StartsWith("not applied: the run ended", item.Outcome, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Signals_from_many_threads_are_handled_one_at_a_time_in_one_loop()
    {
        await StartAsync("supervised", pauseWhileDeciding: false, decideEvery: 10);
        Task steps = Task.Run(() =>
        {
            for (int i = 0; i < 300; i++)
            {
                _run.Step(2.0 + (0.3 * (i % 7)));
            }
        });
        Task[] polls = [.. Enumerable.Range(0, 20).Select(_ => Task.Run(_agent.Supervisor.ProcessReviewsAsync))];
        await Task.WhenAll([steps, .. polls]);
        await _agent.Supervisor.SettledAsync();
        _run.Finish();
        long[] decided = [.. _agent.Supervisor.Decisions.Select(d => d.Step)];
        Assert.NotEmpty(decided);
        Assert.Equal(decided.Order(), decided); // one decision at a time, recorded in order
        Assert.Equal(decided.Length, _run.Recorded.OfType<AgentDecisionEvent>().Count());
        Assert.All(_run.Recorded.OfType<ProposalEvent>().Where(p => p.Action != InterventionAction.KeepLearningRate),
            p => Assert.Equal(Verdict.Review, p.Verdict)); // everything else waits for a person under supervised
    }

    public async Task DisposeAsync()
    {
        if (_agent is not null)
        {
            await _agent.DisposeAsync();
        }
        Dispose();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        Directory.Delete(_folder, recursive: true);
    }

    public void Dispose() => _run?.Dispose();
}
