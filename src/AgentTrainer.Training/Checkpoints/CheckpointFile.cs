using System.Buffers.Binary;
using System.Security.Cryptography;

namespace AgentTrainer.Training.Checkpoints;

/// <summary>A checkpoint on disk: an 8-byte magic, the payload's SHA-256, its length, the payload.
/// Written to a temporary file and renamed, so a crash never leaves half a checkpoint under its name.</summary>
public static class CheckpointFile
{
    public const string Extension = ".ckpt";
    private static readonly byte[] Magic = "ATCKPT01"u8.ToArray();
    private const int HeaderLength = 8 + 32 + 8;

    public static void Write(string path, byte[] payload)
    {
        byte[] header = new byte[HeaderLength];
        Magic.CopyTo(header, 0);
        SHA256.HashData(payload).CopyTo(header, 8);
        BinaryPrimitives.WriteInt64LittleEndian(header.AsSpan(40), payload.Length);
        string temporary = path + ".tmp";
        using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
        {
            stream.Write(header);
            stream.Write(payload);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }

    /// <summary>The verified payload; a file that is not a checkpoint, is truncated, or fails its
    /// checksum is refused with a <see cref="CheckpointException"/> that says which.</summary>
    public static byte[] Read(string path)
    {
        byte[] file;
        try
        {
            file = File.ReadAllBytes(path);
        }
        catch (IOException error)
        {
            throw new CheckpointException($"Checkpoint file {path} could not be read: {error.Message}", error);
        }
        if (file.Length < HeaderLength || !file.AsSpan(0, 8).SequenceEqual(Magic))
        {
            throw new CheckpointException($"{path} is not an AgentTrainer checkpoint (bad header).");
        }
        long length = BinaryPrimitives.ReadInt64LittleEndian(file.AsSpan(40));
        if (length != file.Length - HeaderLength)
        {
            throw new CheckpointException($"Checkpoint {path} is truncated or corrupt: it should hold {length} bytes of state, it holds {file.Length - HeaderLength}.");
        }
        byte[] payload = file[HeaderLength..];
        if (!SHA256.HashData(payload).AsSpan().SequenceEqual(file.AsSpan(8, 32)))
        {
            throw new CheckpointException($"Checkpoint {path} is corrupt: its SHA-256 checksum does not match its contents.");
        }
        return payload;
    }
}
