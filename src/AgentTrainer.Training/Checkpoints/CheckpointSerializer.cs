using System.Text.Json;
using AgentTrainer.Core.Records;
using TorchSharp;
using TorchSharp.Modules;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Checkpoints;

/// <summary>Turns everything needed to continue bit-for-bit into bytes and back: the trainer's
/// position, model parameters, optimizer state (moments, step counts, settings) and the RNG state.</summary>
public static class CheckpointSerializer
{
    public static byte[] Capture(TrainerPosition position, nn.Module model, OptimizerHelper optimizer)
    {
        using var buffer = new MemoryStream();
        using (var writer = new BinaryWriter(buffer))
        {
            writer.Write(JsonSerializer.Serialize(position, RunJson.Options));
            model.save(writer);
            optimizer.save_state_dict(writer);
            using Tensor rng = torch.random.get_rng_state();
            byte[] rngBytes = rng.bytes.ToArray();
            writer.Write(rngBytes.Length);
            writer.Write(rngBytes);
        }
        return buffer.ToArray();
    }

    /// <summary>Reads only the trainer position (cheap: no tensors are touched).</summary>
    public static TrainerPosition ReadPosition(byte[] payload)
    {
        using var reader = new BinaryReader(new MemoryStream(payload));
        return ParsePosition(reader.ReadString());
    }

    public static TrainerPosition Restore(byte[] payload, nn.Module model, OptimizerHelper optimizer)
    {
        using var reader = new BinaryReader(new MemoryStream(payload));
        TrainerPosition position = ParsePosition(reader.ReadString());
        model.load(reader);
        optimizer.load_state_dict(reader);
        byte[] rngBytes = reader.ReadBytes(reader.ReadInt32());
        using Tensor rng = torch.tensor(rngBytes, dtype: ScalarType.Byte);
        torch.random.set_rng_state(rng);
        return position;
    }

    private static TrainerPosition ParsePosition(string json) =>
        JsonSerializer.Deserialize<TrainerPosition>(json, RunJson.Options)
        ?? throw new CheckpointException("The checkpoint has no trainer position.");
}
