using System.Buffers.Binary;
using System.IO.Compression;
using AgentTrainer.Training.Data;

namespace AgentTrainer.Tests;

public sealed class DataSetTests : IDisposable
{
    private readonly string _folder = TestFolders.Create("data");

    public void Dispose() => TestFolders.Delete(_folder);

    internal static byte[] Idx(int[] dimensions, int dataLength)
    {
        byte[] file = new byte[4 + (4 * dimensions.Length) + dataLength];
        file[2] = 0x08;
        file[3] = (byte)dimensions.Length;
        for (int axis = 0; axis < dimensions.Length; axis++)
        {
            BinaryPrimitives.WriteInt32BigEndian(file.AsSpan(4 + (4 * axis)), dimensions[axis]);
        }
        for (int i = 4 + (4 * dimensions.Length); i < file.Length; i++)
        {
            file[i] = (byte)(i % 10);
        }
        return file;
    }

    private void WriteGzip(string name, byte[] content)
    {
        using var gzip = new GZipStream(File.Create(Path.Combine(_folder, name + ".gz")), CompressionLevel.Fastest);
        gzip.Write(content);
    }

    private void WriteFashionMnist(int train, int test)
    {
        WriteGzip("train-images-idx3-ubyte", Idx([train, 28, 28], train * 784));
        WriteGzip("train-labels-idx1-ubyte", Idx([train], train));
        File.WriteAllBytes(Path.Combine(_folder, "t10k-images-idx3-ubyte"), Idx([test, 28, 28], test * 784)); // plain, not gzip'd
        WriteGzip("t10k-labels-idx1-ubyte", Idx([test], test));
    }

    [Fact]
    public void FashionMnist_ReadsGzippedAndPlainIdxFiles()
    {
        WriteFashionMnist(train: 30, test: 12);
        FashionMnist data = FashionMnist.Load(_folder);
        Assert.Equal(30, data.TrainCount);
        Assert.Equal(12, data.TestCount);
        Assert.Equal(30 * 784, data.TrainImages.Length);
        Assert.Equal(Idx([12], 12)[8..], data.TestLabels);
    }

    [Fact]
    public void FashionMnist_Missing_SaysHowToInstallIt()
    {
        var error = Assert.Throws<DataSetException>(() => FashionMnist.Load(Path.Combine(_folder, "nowhere")));
        Assert.Contains("does not exist", error.Message, StringComparison.Ordinal);
        Assert.Contains("apt-get install dataset-fashion-mnist", error.Message, StringComparison.Ordinal);
        Assert.Contains("--data-dir", error.Message, StringComparison.Ordinal);

        var incomplete = Assert.Throws<DataSetException>(() => FashionMnist.Load(_folder));
        Assert.Contains("has no train-images-idx3-ubyte(.gz)", incomplete.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void TruncatedIdx_IsAClearError()
    {
        WriteFashionMnist(train: 30, test: 12);
        byte[] truncated = Idx([12, 28, 28], 12 * 784)[..5000];
        File.WriteAllBytes(Path.Combine(_folder, "t10k-images-idx3-ubyte"), truncated);
        var error = Assert.Throws<DataSetException>(() => FashionMnist.Load(_folder));
        Assert.EndsWith("t10k-images-idx3-ubyte is truncated: its header promises 9408 bytes of data, the file holds 4984.", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void BrokenGzip_IsAClearError()
    {
        WriteFashionMnist(train: 30, test: 12);
        string path = Path.Combine(_folder, "train-labels-idx1-ubyte.gz");
        byte[] bytes = File.ReadAllBytes(path);
        File.WriteAllBytes(path, bytes[..(bytes.Length / 2)]);
        var error = Assert.Throws<DataSetException>(() => FashionMnist.Load(_folder));
        Assert.Contains("train-labels-idx1-ubyte.gz", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 1, 2, 3, 4, 5 }, "bad magic number")]
    [InlineData(new byte[] { 0, 0, 0x0D, 1, 0, 0, 0, 1, 0, 0, 0, 0 }, "only unsigned bytes")]
    [InlineData(new byte[] { 0, 0, 8, 2, 0, 0 }, "header is incomplete")]
    [InlineData(new byte[] { 0, 0, 8, 1, 0xFF, 0xFF, 0xFF, 0xFF }, "dimension 0 is -1")]
    public void CorruptIdxHeaders_AreClearErrors(byte[] raw, string expected)
    {
        var error = Assert.Throws<DataSetException>(() => IdxFile.Parse(raw, "x.idx"));
        Assert.Contains(expected, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MismatchedLabels_AreAClearError()
    {
        WriteFashionMnist(train: 30, test: 12);
        WriteGzip("train-labels-idx1-ubyte", Idx([29], 29));
        var error = Assert.Throws<DataSetException>(() => FashionMnist.Load(_folder));
        Assert.Contains("29 labels for 30 images", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DebiansFashionMnist_HasTheStandardSplits()
    {
        FashionMnist data = FashionMnist.Load("/usr/share/datasets/fashion-mnist");
        Assert.Equal(60_000, data.TrainCount);
        Assert.Equal(10_000, data.TestCount);
        Assert.Equal(6_000, data.TrainLabels.Count(label => label == 3));
    }

    [Fact]
    public void TextCorpus_FromAFolder_SkipsIndexFilesAndLinks_AndSplitsNinetyTen()
    {
        string text = string.Concat(Enumerable.Repeat("The quick brown fox.\n%\nJumps over.\n%\n", 100));
        File.WriteAllText(Path.Combine(_folder, "b-fortunes"), text);
        File.WriteAllText(Path.Combine(_folder, "a-fortunes"), text);
        File.WriteAllBytes(Path.Combine(_folder, "a-fortunes.dat"), [0, 1, 2, 0, 200]);
        File.CreateSymbolicLink(Path.Combine(_folder, "a-fortunes.u8"), Path.Combine(_folder, "a-fortunes"));

        TextCorpus corpus = TextCorpus.Load(_folder, contextLength: 16);
        int expectedLength = 2 * (text.Replace("\n%\n", "\n\n", StringComparison.Ordinal).Length + 1);
        Assert.Equal(expectedLength, corpus.Train.Length + corpus.Validation.Length);
        Assert.Equal((int)(expectedLength * 0.9), corpus.Train.Length);
        Assert.DoesNotContain('%', corpus.Vocabulary);
        Assert.Equal(corpus.Vocabulary.Order().ToArray(), corpus.Vocabulary);
    }

    [Fact]
    public void TextCorpus_BinaryOrTinyOrMissingInput_IsAClearError()
    {
        string binary = Path.Combine(_folder, "model.bin");
        File.WriteAllBytes(binary, [65, 0, 66]);
        Assert.Contains("not a text file", Assert.Throws<DataSetException>(() => TextCorpus.Load(binary, 16)).Message, StringComparison.Ordinal);

        string tiny = Path.Combine(_folder, "tiny.txt");
        File.WriteAllText(tiny, "hello");
        Assert.Contains("needs at least 340", Assert.Throws<DataSetException>(() => TextCorpus.Load(tiny, 16)).Message, StringComparison.Ordinal);

        var missing = Assert.Throws<DataSetException>(() => TextCorpus.Load(Path.Combine(_folder, "none"), 16));
        Assert.Contains("apt-get install fortunes", missing.Message, StringComparison.Ordinal);
    }
}
