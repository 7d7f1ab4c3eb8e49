using AgentTrainer.Core.Commands;
using Microsoft.Extensions.Time.Testing;

namespace AgentTrainer.Core.Tests;

public class CommandQueueTests
{
    private readonly FakeTimeProvider _time = new(new DateTimeOffset(2026, 11, 24, 3, 0, 0, TimeSpan.Zero));

    [Fact]
    public void Submit_ValidCommand_IsPendingWithATimedHistory()
    {
        using var queue = new CommandQueue(_time);
        CommandRecord record = queue.Submit(UpdateOptimizerCommand.ScaleLearningRate(0.5), CommandSource.Human);
        Assert.Equal("cmd-00001", record.Id);
        Assert.Equal(CommandStatus.Pending, record.Status);
        Assert.Equal([CommandStatus.Requested, CommandStatus.Pending], record.History.Select(change => change.Status));
        Assert.All(record.History, change => Assert.Equal(_time.GetUtcNow(), change.At));
        Assert.True(queue.HasPending);
    }

    [Fact]
    public void Submit_InvalidCommand_FailsAtOnceWithAReason_AndIsNotQueued()
    {
        using var queue = new CommandQueue(_time);
        CommandRecord record = queue.Submit(new UpdateOptimizerCommand { LearningRate = double.NaN }, CommandSource.Api);
        Assert.Equal(CommandStatus.Failed, record.Status);
        Assert.Equal("learning_rate must be a number above 0 and at most 1000; got NaN.", record.Reason);
        Assert.True(record.Finished.IsCompleted);
        Assert.False(queue.HasPending);
    }

    [Theory]
    [InlineData(1e39, null, null, "learning_rate must be a number above 0 and at most 1000; got 1E+39.")]
    [InlineData(null, 1e300, null, "learning_rate_factor must be a number above 0 and at most 1E+06; got 1E+300.")]
    [InlineData(null, null, 1e300, "grad_clip must be a number at least 0 and at most 1E+06 (0 turns clipping off); got 1E+300.")]
    public void A_setting_beyond_float32_fails_on_submission_and_never_reaches_the_trainer(double? lr, double? factor, double? clip, string reason)
    {
        using var queue = new CommandQueue(_time);
        CommandRecord record = queue.Submit(new UpdateOptimizerCommand { LearningRate = lr, LearningRateFactor = factor, GradClip = clip }, CommandSource.Api);
        Assert.Equal((CommandStatus.Failed, reason), (record.Status, record.Reason));
        Assert.False(queue.HasPending);
    }

    [Fact]
    public void Closing_the_queue_cancels_what_waits_and_what_comes_later_so_nothing_is_pending_for_ever()
    {
        using var queue = new CommandQueue(_time);
        CommandRecord waiting = queue.Submit(new EvaluateCommand(), CommandSource.Human);
        queue.Close(600, "not applied: the run ended (completed) at step 600 first");
        CommandRecord late = queue.Submit(new EvaluateCommand(), CommandSource.Human);
        Assert.All(new[] { waiting, late }, record =>
        {
            Assert.Equal(CommandStatus.Cancelled, record.Status);
            Assert.Equal("not applied: the run ended (completed) at step 600 first", record.Reason);
            Assert.True(record.Finished.IsCompleted);
        });
        Assert.Equal(600, waiting.History[^1].Step);
        Assert.False(queue.HasPending);
    }

    [Fact]
    public void Commands_AreTakenInSubmissionOrder_AndMoveThroughTheirLifecycle()
    {
        using var queue = new CommandQueue(_time);
        var seen = new List<(string Id, CommandStatus Status)>();
        queue.StatusChanged += (record, change) => seen.Add((record.Id, change.Status));
        CommandRecord first = queue.Submit(new PauseCommand(), CommandSource.Human);
        CommandRecord second = queue.Submit(new ResumeCommand(), CommandSource.Agent);

        Assert.True(queue.TryTake(out CommandRecord taken));
        Assert.Same(first, taken);
        queue.Start(taken, 7);
        _time.Advance(TimeSpan.FromMilliseconds(5));
        queue.Succeed(taken, 7, "paused");
        Assert.True(queue.TryTake(out taken));
        Assert.Same(second, taken);
        Assert.False(queue.TryTake(out _));

        Assert.Equal(CommandStatus.Succeeded, first.Status);
        Assert.Equal("paused", first.Reason);
        Assert.Equal(7, first.History[^1].Step);
        Assert.Equal(TimeSpan.FromMilliseconds(5), first.History[^1].At - first.History[0].At);
        Assert.Equal(
            [("cmd-00001", CommandStatus.Requested), ("cmd-00001", CommandStatus.Pending), ("cmd-00002", CommandStatus.Requested),
             ("cmd-00002", CommandStatus.Pending), ("cmd-00001", CommandStatus.Running), ("cmd-00001", CommandStatus.Succeeded)],
            seen);
    }

    [Fact]
    public void TheCreatedCallback_SeesTheRecordBeforeAnyStatusEventOrTheTrainer()
    {
        using var queue = new CommandQueue(_time);
        var order = new List<string>();
        queue.StatusChanged += (record, change) => order.Add($"{record.Id}:{change.Status}");
        queue.Submit(new PauseCommand(), CommandSource.Agent, created => order.Add($"{created.Id}:created:{queue.HasPending}"));
        Assert.Equal(["cmd-00001:created:False", "cmd-00001:Requested", "cmd-00001:Pending"], order);
    }

    [Fact]
    public void AFinishedCommand_CannotMoveAgain()
    {
        using var queue = new CommandQueue(_time);
        CommandRecord record = queue.Submit(new StopCommand(), CommandSource.Guard);
        queue.TryTake(out _);
        queue.Start(record, 1);
        queue.Fail(record, 1, "no");
        Assert.Throws<InvalidOperationException>(() => queue.Succeed(record, 1, "yes"));
        Assert.Equal(CommandStatus.Failed, record.Status);
    }

    [Fact]
    public async Task WaitForCommand_BlocksUntilASubmission()
    {
        using var queue = new CommandQueue(_time);
        Task waiting = Task.Run(() => queue.WaitForCommand(CancellationToken.None));
        await Task.Delay(100);
        Assert.False(waiting.IsCompleted);
        queue.Submit(new ResumeCommand(), CommandSource.Human);
        await waiting.WaitAsync(TimeSpan.FromSeconds(5));
        Assert.True(queue.TryTake(out _));
    }

    [Fact]
    public void WaitForCommand_EndsOnCancellation()
    {
        using var queue = new CommandQueue(_time);
        using var cancellation = new CancellationTokenSource(TimeSpan.FromMilliseconds(50));
        Assert.ThrowsAny<OperationCanceledException>(() => queue.WaitForCommand(cancellation.Token));
    }

    [Theory]
    [InlineData("{\"kind\":\"update_optimizer\"}", "needs at least one of")]
    [InlineData("{\"kind\":\"update_optimizer\",\"learning_rate\":1e-3,\"learning_rate_factor\":2}", "not both")]
    [InlineData("{\"kind\":\"update_optimizer\",\"grad_clip\":-1}", "grad_clip must be")]
    [InlineData("{\"kind\":\"load_checkpoint\",\"checkpoint_id\":\" \"}", "needs a checkpoint_id")]
    [InlineData("{\"kind\":\"model_layer_operation\",\"layer\":\"fc1\",\"operation\":\"delete\"}", "is not one of reset_parameters")]
    [InlineData("{\"kind\":\"model_layer_operation\",\"layer\":\"fc1\",\"operation\":\"scale_learning_rate\"}",
        "needs a factor")]
    [InlineData("{\"kind\":\"model_layer_operation\",\"layer\":\"fc1\",\"operation\":\"scale_learning_rate\",\"factor\":-1}",
        "factor must be a number above 0")]
    [InlineData("{\"kind\":\"model_layer_operation\",\"layer\":\"fc1\",\"operation\":\"freeze\",\"factor\":2}",
        "operation 'freeze' takes no factor")]
    [InlineData("{\"kind\":\"update_optimizer\",\"grad_clip_percentile\":101}",
        "grad_clip_percentile must be a number above 0 and at most 100; got 101")]
    [InlineData("{\"kind\":\"update_optimizer\",\"grad_clip_percentile\":-5}", "grad_clip_percentile must be")]
    [InlineData("{\"kind\":\"update_optimizer\",\"grad_clip\":1,\"grad_clip_percentile\":90}",
        "give grad_clip or grad_clip_percentile, not both")]
    [InlineData("{\"kind\":\"skip_data\",\"batches\":0}", "skip_data needs batches from 1 to 1000000; got 0")]
    [InlineData("{\"kind\":\"skip_data\",\"batches\":-3}", "skip_data needs batches from 1")]
    [InlineData("{\"kind\":\"explore\",\"learning_rate_factors\":[2],\"steps\":50}", "explore needs 2 to 8 learning_rate_factors; got 1")]
    [InlineData("{\"kind\":\"update_dataset\"}", "update_dataset needs at least one of add, remove, weights")]
    [InlineData("{\"kind\":\"update_dataset\",\"weights\":{\"main\":-1}}", "the weight of 'main' must be a number at least 0")]
    [InlineData("{\"kind\":\"update_dataset\",\"add\":[{\"name\":\"a\",\"path\":\"/x\",\"weight\":\"NaN\"}]}", "the weight of 'a' must be")]
    [InlineData("{\"kind\":\"update_dataset\",\"add\":[{\"name\":\"a\",\"path\":\"\"}]}", "every data source needs a name (and one added, a path)")]
    [InlineData("{\"kind\":\"update_dataset\",\"remove\":[\"a\"],\"weights\":{\"a\":2}}", "names each source once")]
    [InlineData("{\"kind\":\"explore\",\"learning_rate_factors\":[1,2,3,4,5,6,7,8,9],\"steps\":50}", "got 9")]
    [InlineData("{\"kind\":\"explore\",\"learning_rate_factors\":[1,1],\"steps\":50}", "must differ from each other")]
    [InlineData("{\"kind\":\"explore\",\"learning_rate_factors\":[1,-2],\"steps\":50}", "learning_rate_factors must be a number above 0")]
    [InlineData("{\"kind\":\"explore\",\"learning_rate_factors\":[1,2],\"steps\":0}", "steps of at least 1 per branch; got 0")]
    [InlineData("{\"kind\":\"explore\",\"learning_rate_factors\":[1,2],\"steps\":5,\"min_improvement\":1.5}",
        "min_improvement must be a fraction from 0 to below 1")]
    public void Validate_ExplainsWhatIsWrong(string json, string expected)
    {
        TrainerCommand command = System.Text.Json.JsonSerializer.Deserialize<TrainerCommand>(json, Records.RunJson.Options)!;
        Assert.Contains(expected, command.Validate(), StringComparison.Ordinal);
    }
}
