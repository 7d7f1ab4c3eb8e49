using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using AgentTrainer.Core.Records;
using AgentTrainer.Training.Checkpoints;

namespace AgentTrainer.Tests;

/// <summary>update_dataset and the watched folder on a real (tiny) char-lm: sources added, removed and reweighted at a
/// step boundary, the mixture held in checkpoints and restored by a rollback, replayed to the same bits; bad updates
/// fail with the reason and change nothing.</summary>
public sealed class DatasetUpdateTests : IDisposable
{
    private const string Corpus = "/usr/share/games/fortunes/computers";
    private const string Science = "/usr/share/games/fortunes/science";
    private readonly string _data = TestFolders.Create("data");

    public void Dispose() => TestFolders.Delete(_data);

    private static TrainerHarness CharLm(Action<TrainingOptions>? more = null) => new(o =>
    {
        o.Task = TaskNames.CharLm;
        o.Steps = 60;
        o.CharLm = new CharLmOptions { ContextLength = 8, EmbeddingSize = 16, Layers = 1, Heads = 2 };
        o.BatchSize = 8;
        o.EvalBatches = 2;
        o.EvalEvery = 20;
        o.Data.TextPath = Corpus;
        more?.Invoke(o);
    });

    private static DataMixture MixtureAt(TrainerHarness harness, string checkpoint) =>
        CheckpointSerializer.ReadPosition(harness.Trainer.Checkpoints.Load(checkpoint)).Mixture!;

    [Fact]
    public void AnAddedSource_IsDrawnFromTheNextBatchOn_HeldInACheckpoint_AndAReplayIsBitForBit()
    {
        using TrainerHarness harness = CharLm();
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(10, CancellationToken.None);
        CommandRecord update = harness.Apply(new UpdateDatasetCommand
        {
            Add = [new DataSourceSpec("science", Science, 3)], Weights = new Dictionary<string, double> { ["main"] = 1 },
        });
        Assert.Equal("added science (weight 3); weights main 1", update.Reason);
        DatasetUpdatedEvent updated = Assert.Single(harness.Events.OfType<DatasetUpdatedEvent>());
        Assert.Equal(10, updated.Step);
        Assert.Equal(["main", "science"], updated.Mixture.Sources.Select(s => s.Name));
        harness.Trainer.RunUntil(20, CancellationToken.None);
        harness.Apply(new SaveCheckpointCommand { ToDisk = false });
        harness.Trainer.RunUntil(40, CancellationToken.None);

        Assert.Equal(updated.Mixture.Sources, MixtureAt(harness, "ckpt-000020-b0").Sources);
        harness.Apply(new LoadCheckpointCommand("ckpt-000020-b0"));
        harness.Trainer.RunUntil(40, CancellationToken.None);
        Assert.Equal(harness.Losses(0, 20, 40), harness.Losses(1, 20, 40));

        // A rollback to before the update trains on the corpus alone again, as the run did then.
        harness.Apply(new LoadCheckpointCommand("ckpt-000000-b0"));
        Assert.Equal(["main"], harness.Trainer.Mixture!.Sources.Select(s => s.Name));
        harness.Trainer.RunUntil(10, CancellationToken.None);
        Assert.Equal(harness.Losses(0, 0, 10), harness.Losses(2, 0, 10));
    }

    [Fact]
    public void ARunThatNeverUpdates_DrawsTheSameBatchesAsBeforeMixturesExisted()
    {
        // The same settings with the corpus's one source reweighted: one source drawn, the same single draw per window.
        using TrainerHarness plain = CharLm();
        plain.Trainer.Begin();
        plain.Trainer.RunUntil(20, CancellationToken.None);
        using TrainerHarness reweighted = CharLm();
        reweighted.Trainer.Begin();
        reweighted.Apply(new UpdateDatasetCommand
        {
            Add = [new DataSourceSpec("science", Science, 0)], Weights = new Dictionary<string, double> { ["main"] = 5 },
        });
        reweighted.Trainer.RunUntil(20, CancellationToken.None);
        Assert.Equal(plain.Losses(0, 0, 20), reweighted.Losses(0, 0, 20));
    }

    [Fact]
    public void AFileArrivingInTheWatchedFolder_IsFoldedInAtTheNextTenthStep()
    {
        using TrainerHarness harness = CharLm(o =>
        {
            o.Data.WatchFolder = FaultKinds.IncomingFolder;
            o.Faults = [new FaultOptions { Kind = FaultKinds.DataArrives, Step = 13, Path = Science }];
        });
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(30, CancellationToken.None);
        DatasetUpdatedEvent folded = Assert.Single(harness.Events.OfType<DatasetUpdatedEvent>());
        Assert.Equal(20, folded.Step);
        Assert.StartsWith("folded in from ", folded.Change, StringComparison.Ordinal);
        DataSource arrived = folded.Mixture.Sources[1];
        Assert.Equal(("science", 1.0), (arrived.Name, arrived.Weight));
        Assert.Equal(Path.Combine(harness.Folder, FaultKinds.IncomingFolder, "science"), arrived.Path);
    }

    public static TheoryData<string, string> BadUpdates => new()
    {
        { "unknown source", "no data source 'wiki'; the mixture has main" },
        { "name taken", "a data source is named 'main' already" },
        { "missing path", "The text corpus was not found" },
        { "nothing left", "every source would have weight 0: nothing would be left to train on" },
    };

    [Theory]
    [MemberData(nameof(BadUpdates))]
    public void AnUpdateTheRunCannotTake_FailsWithItsReason_AndTheMixtureIsUnchanged(string bad, string reason)
    {
        using TrainerHarness harness = CharLm();
        harness.Trainer.Begin();
        DataMixture before = harness.Trainer.Mixture!;
        CommandRecord update = harness.Apply(bad switch
        {
            "unknown source" => new UpdateDatasetCommand { Remove = ["wiki"] },
            "name taken" => new UpdateDatasetCommand { Add = [new DataSourceSpec("main", Science)] },
            "missing path" => new UpdateDatasetCommand { Add = [new DataSourceSpec("new", "/no/such/text")] },
            _ => new UpdateDatasetCommand { Weights = new Dictionary<string, double> { ["main"] = 0 } },
        });
        Assert.Equal(CommandStatus.Failed, update.Status);
        Assert.Contains(reason, update.Reason, StringComparison.Ordinal);
        Assert.Same(before, harness.Trainer.Mixture!);
        Assert.Empty(harness.Events.OfType<DatasetUpdatedEvent>());
    }

    [Fact]
    public void ACheckpointWhoseSourceTextChangedOnDisk_IsRefusedOnResume_WithTheReason()
    {
        string copy = Path.Combine(_data, "science.txt");
        File.Copy(Science, copy);
        string checkpoint = Path.Combine(_data, "ckpt-000010-b0.ckpt");
        using (TrainerHarness first = CharLm())
        {
            first.Trainer.Begin();
            first.Apply(new UpdateDatasetCommand { Add = [new DataSourceSpec("copy", copy)] });
            first.Trainer.RunUntil(10, CancellationToken.None);
            first.Apply(new SaveCheckpointCommand());
            File.Copy(first.Trainer.Checkpoints.Find("ckpt-000010-b0")!.Path!, checkpoint);
        }
        File.AppendAllText(copy, "\nedited after it was trained on\n");

        using TrainerHarness second = CharLm();
        Directory.CreateDirectory(second.Trainer.Checkpoints.Folder);
        File.Copy(checkpoint, Path.Combine(second.Trainer.Checkpoints.Folder, Path.GetFileName(checkpoint)));
        Assert.Empty(second.Trainer.Checkpoints.DiscoverOnDisk(second.Trainer.Foreign));
        CheckpointException refused = Assert.Throws<CheckpointException>(
            () => second.Trainer.ResumeFrom("ckpt-000010-b0", DateTimeOffset.UtcNow));
        Assert.Contains("data source 'copy'", refused.Message, StringComparison.Ordinal);
        Assert.Contains("is not the text it held when it was added", refused.Message, StringComparison.Ordinal);
        Assert.Equal(["main"], second.Trainer.Mixture!.Sources.Select(s => s.Name));
    }

    [Fact]
    public void FashionMnist_TakesAnExtraTrainingSet_AsASourceOfTheMixture_AndAReplayIsBitForBit()
    {
        string extra = Path.Combine(_data, "extra");
        Directory.CreateDirectory(extra);
        File.WriteAllBytes(Path.Combine(extra, "train-images-idx3-ubyte"), DataSetTests.Idx([500, 28, 28], 500 * 784));
        File.WriteAllBytes(Path.Combine(extra, "train-labels-idx1-ubyte"), DataSetTests.Idx([500], 500));
        Action<TrainingOptions> fashion = o =>
        {
            o.Task = TaskNames.FashionMnist;
            o.Steps = 60;
            o.EvalBatches = 2;
            o.EvalEvery = 20;
        };
        using var plain = new TrainerHarness(fashion);
        plain.Trainer.Begin();
        plain.Trainer.RunUntil(30, CancellationToken.None);
        using var harness = new TrainerHarness(fashion);
        harness.Trainer.Begin();
        harness.Trainer.RunUntil(10, CancellationToken.None);
        CommandRecord added = harness.Apply(new UpdateDatasetCommand { Add = [new DataSourceSpec("extra", extra, 1)] });
        Assert.Equal(CommandStatus.Succeeded, added.Status);
        harness.Trainer.RunUntil(20, CancellationToken.None);
        harness.Apply(new SaveCheckpointCommand { ToDisk = false });
        harness.Trainer.RunUntil(30, CancellationToken.None);

        Assert.Equal(plain.Losses(0, 0, 10), harness.Losses(0, 0, 10));
        Assert.NotEqual(plain.Losses(0, 10, 30), harness.Losses(0, 10, 30)); // the extra set is drawn from
        Assert.Equal(["main", "extra"], MixtureAt(harness, "ckpt-000020-b0").Sources.Select(s => s.Name));
        harness.Apply(new LoadCheckpointCommand("ckpt-000020-b0"));
        harness.Trainer.RunUntil(30, CancellationToken.None);
        Assert.Equal(harness.Losses(0, 20, 30), harness.Losses(1, 20, 30));

        CommandRecord missing = harness.Apply(new UpdateDatasetCommand { Add = [new DataSourceSpec("x", _data + "/none")] });
        Assert.Contains("No Fashion-MNIST training set at", missing.Reason, StringComparison.Ordinal);
    }
}
