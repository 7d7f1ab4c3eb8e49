using System.Text.Json;
using AgentTrainer.Core.Records;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Checkpoints;

/// <summary>Turns everything needed to continue bit-for-bit into bytes and back: the trainer's
/// position, model parameters, optimizer state (moments, step counts, settings), the RNG state, and for your own
/// loop, the state you keep yourself (written by your <c>SaveState</c>, after everything else,
/// length-prefixed).</summary>
public static class CheckpointSerializer
{
    /// <param name="scratch">a stream to write into, kept from one capture to the next by the caller: a stream grown
    /// afresh for every capture (large-object allocations doubling to the checkpoint's size) costs ten times what the
    /// writing does (measured: 2.5 ms against 0.06 ms for 0.3 MB of parameters)</param>
    public static byte[] Capture(
        TrainerPosition position, nn.Module model, OptimizerHelper optimizer, Action<BinaryWriter>? ownState = null,
        MemoryStream? scratch = null)
    {
        MemoryStream buffer = scratch ?? new MemoryStream();
        buffer.SetLength(0);
        using (var writer = new BinaryWriter(buffer, System.Text.Encoding.UTF8, leaveOpen: true))
        {
            writer.Write(JsonSerializer.Serialize(position, RunJson.Options));
            model.save(writer);
            optimizer.save_state_dict(writer);
            using Tensor rng = torch.random.get_rng_state();
            byte[] rngBytes = rng.bytes.ToArray();
            writer.Write(rngBytes.Length);
            writer.Write(rngBytes);
            if (ownState is not null)
            {
                using var own = new MemoryStream();
                using (var ownWriter = new BinaryWriter(own))
                {
                    ownState(ownWriter);
                }
                byte[] ownBytes = own.ToArray(); // readable after the writer closed the stream
                writer.Write((long)ownBytes.Length);
                writer.Write(ownBytes);
            }
        }
        byte[] payload = buffer.ToArray();
        if (scratch is null)
        {
            buffer.Dispose();
        }
        return payload;
    }

    /// <summary>Reads only the trainer position (cheap: no tensors are touched).</summary>
    public static TrainerPosition ReadPosition(byte[] payload)
    {
        using var reader = new BinaryReader(new MemoryStream(payload));
        return ParsePosition(reader.ReadString());
    }

    /// <exception cref="CheckpointException"><paramref name="ownState"/> is given and the checkpoint holds
    /// none</exception>
    public static TrainerPosition Restore(
        byte[] payload, nn.Module model, OptimizerHelper optimizer, Action<BinaryReader>? ownState = null)
    {
        using var reader = new BinaryReader(new MemoryStream(payload));
        TrainerPosition position = ParsePosition(reader.ReadString());
        model.load(reader);
        optimizer.load_state_dict(reader);
        byte[] rngBytes = reader.ReadBytes(reader.ReadInt32());
        using Tensor rng = torch.tensor(rngBytes, dtype: ScalarType.Byte);
        torch.random.set_rng_state(rng);
        if (ownState is not null)
        {
            if (reader.BaseStream.Position == reader.BaseStream.Length)
            {
                throw new CheckpointException(
                    "The checkpoint holds no state of your own loop (it was not taken by one).");
            }
            using var own = new BinaryReader(new MemoryStream(reader.ReadBytes(checked((int)reader.ReadInt64()))));
            ownState(own);
        }
        return position;
    }

    private static TrainerPosition ParsePosition(string json) =>
        JsonSerializer.Deserialize<TrainerPosition>(json, RunJson.Options)
        ?? throw new CheckpointException("The checkpoint has no trainer position.");
}
