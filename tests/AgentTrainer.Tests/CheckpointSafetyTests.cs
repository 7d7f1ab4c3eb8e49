using System.Text.Json;
using System.Text.Json.Nodes;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Training.Checkpoints;

namespace AgentTrainer.Tests;

/// <summary>What the trainer does with checkpoints and settings it cannot use: another model's checkpoint
/// is refused and changes nothing, the disk keeps a bounded number of checkpoints, and a learning rate
/// beyond what float32 holds is refused or held at the maximum while the run goes on.</summary>
public sealed class CheckpointSafetyTests
{
    /// <summary>A disk checkpoint of a tiny char-lm (another model than the synthetic task's), written by a real trainer.</summary>
    private static byte[] CharLmCheckpoint(bool withSignature)
    {
        using var other = new TrainerHarness(o =>
        {
            o.Task = TaskNames.CharLm;
            o.Steps = 3;
            o.CharLm = new CharLmOptions { ContextLength = 8, EmbeddingSize = 16, Layers = 1, Heads = 2 };
            o.EvalBatches = 1;
        });
        other.Trainer.Begin();
        other.Trainer.RunUntil(3, CancellationToken.None);
        other.Apply(new SaveCheckpointCommand());
        byte[] payload = CheckpointFile.Read(other.Trainer.Checkpoints.Find("ckpt-000003-b0")!.Path!);
        return withSignature ? payload : WithoutSignature(payload);
    }

    /// <summary>The payload as a version before signatures wrote it: its position has no "model".</summary>
    private static byte[] WithoutSignature(byte[] payload)
    {
        using var reader = new BinaryReader(new MemoryStream(payload));
        JsonObject position = JsonNode.Parse(reader.ReadString())!.AsObject();
        position.Remove("model");
        byte[] rest = payload[(int)reader.BaseStream.Position..];
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer))
        {
            writer.Write(position.ToJsonString());
            writer.Write(rest);
        }
        return buffer.ToArray();
    }

    private static string PutInto(TrainerHarness harness, byte[] payload, string name)
    {
        Directory.CreateDirectory(harness.Trainer.Checkpoints.Folder);
        string path = Path.Combine(harness.Trainer.Checkpoints.Folder, name);
        CheckpointFile.Write(path, payload);
        return path;
    }

    [Fact]
    public void A_capture_into_a_reused_stream_is_the_same_bytes_as_one_into_a_fresh_stream_after_a_longer_one()
    {
        using var model = TorchSharp.torch.nn.Linear(4, 3);
        using var optimizer = TorchSharp.torch.optim.AdamW(model.parameters(), 1e-3);
        using var scratch = new MemoryStream();
        var position = new TrainerPosition(7, 7, 0, 1e-3, 0.01, 1.0);
        byte[] longer = CheckpointSerializer.Capture(position, model, optimizer, writer => writer.Write(new string('x', 5000)), scratch);
        byte[] reused = CheckpointSerializer.Capture(position, model, optimizer, writer => writer.Write(7L), scratch);
        byte[] fresh = CheckpointSerializer.Capture(position, model, optimizer, writer => writer.Write(7L));
        Assert.True(longer.Length > fresh.Length + 4000);
        Assert.Equal(fresh, reused); // nothing of the longer capture is left behind in the shorter one
    }

    [Fact]
    public void Another_models_checkpoint_is_left_out_of_the_catalog_naming_both_models()
    {
        using var harness = new TrainerHarness();
        string path = PutInto(harness, CharLmCheckpoint(withSignature: true), "ckpt-000003-b0.ckpt");
        (string skippedPath, string problem) = Assert.Single(harness.Trainer.Checkpoints.DiscoverOnDisk(harness.Trainer.Foreign));
        Assert.Equal(path, skippedPath);
        Assert.StartsWith("was taken from another model (char-lm CharGpt with adamw, ", problem, StringComparison.Ordinal);
        Assert.Contains($"this run's is {harness.Trainer.ModelSignature}", problem, StringComparison.Ordinal);
        Assert.StartsWith("synthetic MlpClassifier with adamw, 1,732 parameters, shapes ", harness.Trainer.ModelSignature, StringComparison.Ordinal);
        Assert.Null(harness.Trainer.Checkpoints.Find("ckpt-000003-b0"));
    }

    [Fact]
    public void Loading_an_old_checkpoint_of_another_model_fails_with_a_reason_and_leaves_the_trainer_exactly_as_it_was()
    {
        using var control = new TrainerHarness();
        using var harness = new TrainerHarness();
        PutInto(harness, CharLmCheckpoint(withSignature: false), "ckpt-000003-b0.ckpt");
        Assert.Empty(harness.Trainer.Checkpoints.DiscoverOnDisk(harness.Trainer.Foreign)); // no signature: it cannot tell before trying
        foreach (TrainerHarness run in new[] { control, harness })
        {
            run.Trainer.Begin();
            run.Trainer.RunUntil(20, CancellationToken.None);
        }

        CommandRecord load = harness.Apply(new LoadCheckpointCommand("ckpt-000003-b0"));

        Assert.Equal(CommandStatus.Failed, load.Status);
        Assert.StartsWith($"ckpt-000003-b0 does not fit this model ({harness.Trainer.ModelSignature}): ", load.Reason, StringComparison.Ordinal);
        Assert.Equal((20L, 0, 1), (harness.Trainer.State.Step, harness.Trainer.State.Branch, harness.Trainer.Branches.Count));
        foreach (TrainerHarness run in new[] { control, harness })
        {
            run.Trainer.RunUntil(40, CancellationToken.None);
        }
        // Weights, optimizer moments and RNG put back: the next steps are the same to the last bit.
        Assert.Equal(control.Losses(0, 20, 40), harness.Losses(0, 20, 40));
    }

    [Fact]
    public void Disk_checkpoints_beyond_the_limit_are_deleted_oldest_first_but_never_the_first_the_best_or_the_latest()
    {
        using var harness = new TrainerHarness(o =>
        {
            o.Steps = 120;
            o.EvalEvery = 10;
            o.CheckpointEvery = 10;
            o.CheckpointsKept = 3;
            o.LearningRate = 0.05; // overshoots late on, so the best is not the latest
            o.Schedule = ScheduleNames.Constant;
        });
        harness.Trainer.Run(CancellationToken.None);

        string[] onDisk = [.. Directory.GetFiles(harness.Trainer.Checkpoints.Folder).Select(Path.GetFileNameWithoutExtension).Order()!];
        double best = harness.Evaluations.Where(e => e.Step % 10 == 0 && e.Step < 120).Min(e => e.ValLoss);
        string bestId = CheckpointStore.IdFor(harness.Evaluations.First(e => e.ValLoss == best).Step, 0);
        Assert.Contains("ckpt-000000-b0", onDisk);
        Assert.Contains("ckpt-000120-b0", onDisk);
        Assert.True(onDisk.Contains(bestId) || best > harness.Evaluations.Last().ValLoss, $"{bestId} not in {string.Join(", ", onDisk)}");
        Assert.True(onDisk.Length <= 3, string.Join(", ", onDisk));
        string[] pruned = [.. harness.Events.OfType<CheckpointPrunedEvent>().Select(e => e.CheckpointId)];
        Assert.Equal(13 - onDisk.Length, pruned.Length); // 13 written (0, 10, ..., 120), each deleted once, with an event
        Assert.Empty(pruned.Intersect(onDisk));
    }

    [Fact]
    public void An_lr_change_beyond_the_maximum_fails_and_a_huge_spike_is_held_at_the_maximum_and_the_run_ends_with_its_outcome()
    {
        using var harness = new TrainerHarness(o =>
        {
            o.Steps = 40;
            o.LearningRate = 0.5;
            o.Schedule = ScheduleNames.Constant;
            o.Faults.Add(new FaultOptions { Kind = FaultKinds.LrSpike, Step = 30, Factor = 1e6 });
        });
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(10, CancellationToken.None);
        CommandRecord tooFar = harness.Apply(UpdateOptimizerCommand.ScaleLearningRate(1e4));
        Assert.Equal(CommandStatus.Failed, tooFar.Status);
        Assert.Equal("the resulting learning rate 5000 is not above 0 and at most 1000.", tooFar.Reason);
        Assert.Equal(0.5, harness.Trainer.State.BaseLearningRate);

        string outcome = harness.Trainer.Finish(harness.Trainer.RunUntil(40, CancellationToken.None)).Outcome;

        FaultInjectedEvent spike = Assert.Single(harness.Events.OfType<FaultInjectedEvent>());
        Assert.Equal("lr 0.5 -> 1000 (held at the maximum 1000)", spike.Description);
        Assert.Contains(outcome, new[] { RunOutcomes.Completed, RunOutcomes.Diverged }); // trained through (or diverged), never crashed
        Assert.Equal(NumericLimits.MaxLearningRate, harness.Trainer.State.BaseLearningRate);
    }
}
