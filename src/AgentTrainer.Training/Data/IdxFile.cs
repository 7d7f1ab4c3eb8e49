using System.Buffers.Binary;
using System.IO.Compression;

namespace AgentTrainer.Training.Data;

/// <summary>An IDX file (the MNIST family's format) of unsigned bytes: big-endian magic 0x000008NN,
/// NN dimension sizes, then the data. Read plain or gzip'd.</summary>
public sealed record IdxFile(int[] Dimensions, byte[] Data)
{
    private const byte UnsignedByteType = 0x08;

    public static IdxFile Read(string path)
    {
        byte[] raw;
        try
        {
            raw = File.ReadAllBytes(path);
            if (raw.Length >= 2 && raw[0] == 0x1f && raw[1] == 0x8b)
            {
                using var gzip = new GZipStream(new MemoryStream(raw), CompressionMode.Decompress);
                using var inflated = new MemoryStream();
                gzip.CopyTo(inflated);
                raw = inflated.ToArray();
            }
        }
        catch (InvalidDataException error)
        {
            throw new DataSetException($"{path} is not a valid gzip file ({error.Message}); the download or install is probably truncated.", error);
        }
        catch (IOException error) when (error is not FileNotFoundException)
        {
            throw new DataSetException($"{path} could not be read: {error.Message}", error);
        }
        return Parse(raw, path);
    }

    public static IdxFile Parse(ReadOnlySpan<byte> raw, string path)
    {
        if (raw.Length < 4 || raw[0] != 0 || raw[1] != 0)
        {
            throw new DataSetException($"{path} is not an IDX file (bad magic number).");
        }
        if (raw[2] != UnsignedByteType)
        {
            throw new DataSetException($"{path} holds IDX type 0x{raw[2]:x2}; only unsigned bytes (0x08) are supported.");
        }
        int rank = raw[3];
        int headerLength = 4 + (4 * rank);
        if (rank == 0 || raw.Length < headerLength)
        {
            throw new DataSetException($"{path} is truncated: its header is incomplete.");
        }
        var dimensions = new int[rank];
        long expected = 1;
        for (int axis = 0; axis < rank; axis++)
        {
            dimensions[axis] = BinaryPrimitives.ReadInt32BigEndian(raw.Slice(4 + (4 * axis), 4));
            if (dimensions[axis] <= 0)
            {
                throw new DataSetException($"{path} is corrupt: dimension {axis} is {dimensions[axis]}.");
            }
            expected *= dimensions[axis];
        }
        long actual = raw.Length - headerLength;
        if (actual != expected)
        {
            throw new DataSetException(
                $"{path} is {(actual < expected ? "truncated" : "corrupt")}: its header promises {expected} bytes of data, the file holds {actual}.");
        }
        return new IdxFile(dimensions, raw[headerLength..].ToArray());
    }
}
