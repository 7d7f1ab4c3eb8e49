using AgentTrainer.Training.Tasks;
using TorchSharp;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Trainer;

/// <summary>The corrupt-batches fault for a task that does not corrupt its own batches
/// (<see cref="ICorruptibleTask"/>): a broken shard as any data can have one — floating-point inputs scaled
/// 25x, whole-number inputs (tokens, ids) shuffled among themselves, and targets that belong to other examples
/// (shuffled along the batch). Deterministic per seed and position, so a replay meets the same batch.</summary>
public static class BatchCorruption
{
    public static (Tensor Input, Tensor Target) Corrupt((Tensor Input, Tensor Target) batch, int seed, long position)
    {
        Random random = BatchOrder.ForPosition(seed, position, stream: 1);
        Tensor input;
        if (batch.Input.is_floating_point())
        {
            using Scalar scale = 25.0.ToScalar();
            input = batch.Input.mul(scale);
        }
        else
        {
            input = Shuffle(batch.Input.reshape(-1), random).reshape(batch.Input.shape);
        }
        return (input, Shuffle(batch.Target, random));
    }

    /// <summary>The rows of <paramref name="tensor"/> (its first dimension) in a random order.</summary>
    private static Tensor Shuffle(Tensor tensor, Random random)
    {
        long[] order = [.. Enumerable.Range(0, (int)tensor.shape[0]).Select(i => (long)i)];
        random.Shuffle(order);
        using Tensor indices = torch.tensor(order, device: tensor.device);
        return tensor.index_select(0, indices);
    }
}
