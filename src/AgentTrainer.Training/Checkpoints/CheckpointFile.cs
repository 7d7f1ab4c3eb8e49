using System.Buffers.Binary;
using System.Security.Cryptography;
using AgentTrainer.Core.Records;

namespace AgentTrainer.Training.Checkpoints;

/// <summary>A checkpoint on disk: an 8-byte magic, the payload's SHA-256, its length, the payload.
/// Written with <see cref="AtomicFile"/>: never half a checkpoint under its name, no temporary left behind.</summary>
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
        AtomicFile.Write(path, stream =>
        {
            stream.Write(header);
            stream.Write(payload);
        }, flushToDisk: true);
    }

    /// <summary>Whether the file starts as our checkpoints do (a quick look: not a verification).</summary>
    public static bool HasOurHeader(string path)
    {
        Span<byte> start = stackalloc byte[8];
        try
        {
            using var file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return file.ReadAtLeast(start, 8, throwOnEndOfStream: false) == 8 && start.SequenceEqual(Magic);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            return false;
        }
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
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
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
