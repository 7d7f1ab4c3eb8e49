namespace AgentTrainer.Training.Tasks;

/// <summary>Deterministic data order from (seed, epoch) or (seed, position) alone, so no sampler
/// state needs saving: a checkpoint's data position replays the same batches.</summary>
public static class BatchOrder
{
    /// <summary>A permutation of 0..count-1 for one epoch (Fisher-Yates).</summary>
    public static int[] Permutation(int seed, long epoch, int count)
    {
        var random = new Random(Mix(seed, epoch));
        int[] order = [.. Enumerable.Range(0, count)];
        for (int i = count - 1; i > 0; i--)
        {
            int j = random.Next(i + 1);
            (order[i], order[j]) = (order[j], order[i]);
        }
        return order;
    }

    /// <summary>A random source for one batch position (window offsets, corruption noise).</summary>
    public static Random ForPosition(int seed, long position, int stream) => new(Mix(seed, (position * 8) + stream));

    private static int Mix(int seed, long value)
    {
        // SplitMix64 finaliser: neighbouring inputs give unrelated seeds.
        ulong z = (ulong)seed * 0x9E3779B97F4A7C15UL + (ulong)value;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return (int)((z ^ (z >> 31)) & 0x7FFFFFFF);
    }
}
