using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;
using AgentTrainer.Training.Checkpoints;

namespace AgentTrainer.Tests;

public class RollbackTests
{
    [Fact]
    public void LoadingACheckpoint_ContinuesBitForBit_OnANewBranch()
    {
        using var harness = new TrainerHarness();
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(40, CancellationToken.None);
        CommandRecord save = harness.Apply(new SaveCheckpointCommand { ToDisk = false });
        Assert.Equal("saved ckpt-000040-b0", save.Reason);
        harness.Trainer.RunUntil(90, CancellationToken.None);

        CommandRecord load = harness.Apply(new LoadCheckpointCommand("ckpt-000040-b0"));
        Assert.Equal(CommandStatus.Succeeded, load.Status);
        Assert.Equal(40, harness.Trainer.State.Step);
        Assert.Equal(1, harness.Trainer.State.Branch);
        harness.Trainer.RunUntil(90, CancellationToken.None);

        double[] original = harness.Losses(branch: 0, 40, 90);
        double[] replayed = harness.Losses(branch: 1, 40, 90);
        Assert.Equal(50, original.Length);
        Assert.Equal(original, replayed); // exact equality: same bits
        Assert.Equal(2, harness.Trainer.Branches.Count);
        Assert.Equal(new BranchInfo(1, 0, 40, "ckpt-000040-b0"), harness.Trainer.Branches.All[1]);
        Assert.Contains(harness.Events, e => e is BranchCreatedEvent { Branch: 1, ParentBranch: 0, ForkStep: 40 });
    }

    [Fact]
    public void ACheckpointOnDisk_ResumesBitForBit_InAFreshTrainer()
    {
        string checkpointPath;
        double[] original;
        using (var first = new TrainerHarness(o => o.Steps = 60))
        {
            first.Trainer.Begin();
            first.Trainer.RunUntil(30, CancellationToken.None);
            first.Apply(new SaveCheckpointCommand());
            first.Trainer.RunUntil(60, CancellationToken.None);
            original = first.Losses(0, 30, 60);
            checkpointPath = first.Trainer.Checkpoints.Find("ckpt-000030-b0")!.Path!;
            string copy = Path.Combine(Path.GetTempPath(), Path.GetFileName(checkpointPath));
            File.Copy(checkpointPath, copy, overwrite: true);
            checkpointPath = copy;
        }

        using var second = new TrainerHarness(o => o.Steps = 60);
        string target = Path.Combine(second.Trainer.Checkpoints.Folder, Path.GetFileName(checkpointPath));
        Directory.CreateDirectory(second.Trainer.Checkpoints.Folder);
        File.Move(checkpointPath, target);
        Assert.Empty(second.Trainer.Checkpoints.DiscoverOnDisk(second.Trainer.Foreign));
        second.Trainer.ResumeFrom("ckpt-000030-b0", DateTimeOffset.UtcNow);
        second.Trainer.RunUntil(60, CancellationToken.None);
        Assert.Equal(original, second.Losses(0, 30, 60));
    }

    [Fact]
    public void ACorruptCheckpoint_IsRefusedWithAClearReason_AndChangesNothing()
    {
        using var harness = new TrainerHarness(o => o.SnapshotsKept = 1);
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(20, CancellationToken.None);
        harness.Apply(new SaveCheckpointCommand());
        harness.Trainer.RunUntil(40, CancellationToken.None); // later snapshots push step 20 out of memory
        CheckpointInfo info = harness.Trainer.Checkpoints.Find("ckpt-000020-b0")!;
        Assert.False(info.InMemory);
        byte[] bytes = File.ReadAllBytes(info.Path!);
        bytes[^10] ^= 0xFF;
        File.WriteAllBytes(info.Path!, bytes);

        CommandRecord load = harness.Apply(new LoadCheckpointCommand("ckpt-000020-b0"));
        Assert.Equal(CommandStatus.Failed, load.Status);
        Assert.Contains("is corrupt: its SHA-256 checksum does not match", load.Reason, StringComparison.Ordinal);
        Assert.Equal(40, harness.Trainer.State.Step);
        Assert.Equal(0, harness.Trainer.State.Branch);
        Assert.Equal(1, harness.Trainer.Branches.Count);

        File.WriteAllBytes(info.Path!, bytes[..100]);
        Assert.Contains("truncated", harness.Apply(new LoadCheckpointCommand("ckpt-000020-b0")).Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void AnUnknownCheckpoint_FailsAndListsTheAvailableOnes()
    {
        using var harness = new TrainerHarness();
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(20, CancellationToken.None);
        CommandRecord load = harness.Apply(new LoadCheckpointCommand("ckpt-999999-b0"));
        Assert.Equal(CommandStatus.Failed, load.Status);
        Assert.Equal("Unknown checkpoint 'ckpt-999999-b0'. Available: ckpt-000000-b0, ckpt-000010-b0, ckpt-000020-b0.", load.Reason);
        Assert.Equal(20, harness.Trainer.State.Step);
    }

    [Fact]
    public void MemorySnapshots_KeepOnlyTheMostRecent()
    {
        using var harness = new TrainerHarness(o => o.SnapshotsKept = 3);
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(100, CancellationToken.None);
        Assert.Equal(["ckpt-000080-b0", "ckpt-000090-b0", "ckpt-000100-b0"], harness.Trainer.Checkpoints.List().Where(c => c.InMemory).Select(c => c.Id));
        // Evicted from memory, the start and the bests (steps 50, 100) stay on disk.
        Assert.Equal(["ckpt-000000-b0", "ckpt-000050-b0", "ckpt-000100-b0"], harness.Trainer.Checkpoints.List().Where(c => c.Path is not null).Select(c => c.Id));
        Assert.Equal(harness.Evaluations.Single(e => e.Step == 100).ValLoss, harness.Trainer.Checkpoints.Find("ckpt-000100-b0")!.ValLoss);
    }

    [Fact]
    public void TheSnapshotEvictedLast_StaysLoadable_UntilTheNextEviction()
    {
        // An agent shown ckpt-0 at a step boundary has its rollback applied after that boundary's snapshot evicted it.
        var store = new CheckpointStore(TestFolders.Create("store"), keepInMemory: 2, TimeProvider.System);
        byte[] Payload(long step) => [(byte)step];
        void Add(long step) => store.Add(new TrainerPosition(step, step, 0, 1e-3, 0, 1), Payload(step), toDisk: false);
        Add(0);
        Add(50);
        Add(100);

        Assert.Equal(["ckpt-000050-b0", "ckpt-000100-b0"], store.List().Select(c => c.Id));
        Assert.Equal(Payload(0), store.Load("ckpt-000000-b0"));

        Add(150);
        Assert.Equal(Payload(50), store.Load("ckpt-000050-b0"));
        Assert.Contains("Unknown checkpoint 'ckpt-000000-b0'", Assert.Throws<CheckpointException>(() => store.Load("ckpt-000000-b0")).Message, StringComparison.Ordinal);
    }
}
