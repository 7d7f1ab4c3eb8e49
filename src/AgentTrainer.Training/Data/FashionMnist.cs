namespace AgentTrainer.Training.Data;

/// <summary>Fashion-MNIST: 60,000 training and 10,000 test images of 28x28 grey pixels, 10 classes.</summary>
public sealed record FashionMnist(byte[] TrainImages, byte[] TrainLabels, byte[] TestImages, byte[] TestLabels)
{
    public const int ImageSize = 28 * 28;
    public const int Classes = 10;
    public const string InstallHint =
        "Install it with `sudo apt-get install dataset-fashion-mnist` (Debian/Ubuntu), or point --data-dir " +
        "(Training:Data:FashionMnistDir) at a folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte, " +
        "t10k-images-idx3-ubyte and t10k-labels-idx1-ubyte (each optionally .gz).";

    public int TrainCount => TrainLabels.Length;
    public int TestCount => TestLabels.Length;

    public static FashionMnist Load(string folder)
    {
        if (!Directory.Exists(folder))
        {
            throw new DataSetException($"Fashion-MNIST was not found: {folder} does not exist. {InstallHint}");
        }
        (byte[] trainImages, byte[] trainLabels) = LoadSplit(folder, "train");
        (byte[] testImages, byte[] testLabels) = LoadSplit(folder, "t10k");
        return new FashionMnist(trainImages, trainLabels, testImages, testLabels);
    }

    /// <summary>An extra training set (a data source added to a run): a folder holding train-images-idx3-ubyte and
    /// train-labels-idx1-ubyte (each optionally .gz), checked as the main set is.</summary>
    public static (byte[] Images, byte[] Labels) LoadTrainingSet(string folder) =>
        Directory.Exists(folder)
            ? LoadSplit(folder, "train")
            : throw new DataSetException($"No Fashion-MNIST training set at {folder}: it does not exist.");

    /// <summary>The SHA-256 of a set's images and labels (what a data mixture pins).</summary>
    public static string Sha256(byte[] images, byte[] labels)
    {
        using var hash = System.Security.Cryptography.IncrementalHash.CreateHash(
            System.Security.Cryptography.HashAlgorithmName.SHA256);
        hash.AppendData(images);
        hash.AppendData(labels);
        return Convert.ToHexStringLower(hash.GetHashAndReset());
    }

    private static (byte[] Images, byte[] Labels) LoadSplit(string folder, string prefix)
    {
        IdxFile images = IdxFile.Read(Find(folder, $"{prefix}-images-idx3-ubyte"));
        IdxFile labels = IdxFile.Read(Find(folder, $"{prefix}-labels-idx1-ubyte"));
        if (images.Dimensions is not [_, 28, 28])
        {
            throw new DataSetException($"{prefix} images in {folder} are not 28x28 (dimensions {string.Join('x', images.Dimensions)}).");
        }
        if (labels.Dimensions.Length != 1 || labels.Dimensions[0] != images.Dimensions[0])
        {
            throw new DataSetException($"{prefix} labels in {folder} do not match the images: {labels.Dimensions[0]} labels for {images.Dimensions[0]} images.");
        }
        if (labels.Data.Any(label => label >= Classes))
        {
            throw new DataSetException($"{prefix} labels in {folder} are corrupt: a label is outside 0-9.");
        }
        return (images.Data, labels.Data);
    }

    private static string Find(string folder, string name)
    {
        foreach (string candidate in new[] { name + ".gz", name })
        {
            string path = Path.Combine(folder, candidate);
            if (File.Exists(path))
            {
                return path;
            }
        }
        throw new DataSetException($"Fashion-MNIST is incomplete: {folder} has no {name}(.gz). {InstallHint}");
    }
}
