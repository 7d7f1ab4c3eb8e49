using AgentTrainer.Core.Records;

namespace AgentTrainer.Training.Tasks;

/// <summary>A mixture's sources as a task draws from them: laid end to end in one pool (each source's offset and
/// length), the ones with weight above 0 kept, and one picked in proportion to its weight. Shared by the tasks whose
/// data is a mixture (<see cref="IMixtureTask"/>).</summary>
internal sealed class WeightedSources
{
    private readonly (long Offset, long Length, double Weight)[] _drawn;
    private readonly double _total;

    /// <param name="pool">every source in the pool's order: its length there and its weight</param>
    public WeightedSources(IEnumerable<(long Length, double Weight)> pool)
    {
        long offset = 0;
        var drawn = new List<(long, long, double)>();
        foreach ((long length, double weight) in pool)
        {
            if (weight > 0)
            {
                drawn.Add((offset, length, weight));
            }
            offset += length;
        }
        _drawn = [.. drawn];
        _total = _drawn.Sum(d => d.Weight);
    }

    public static readonly WeightedSources None = new([]);

    /// <summary>Sources drawn from.</summary>
    public int Count => _drawn.Length;

    public (long Offset, long Length) this[int index] => (_drawn[index].Offset, _drawn[index].Length);

    /// <summary>A source in proportion to its weight (one draw from <paramref name="random"/>).</summary>
    public (long Offset, long Length) Pick(Random random)
    {
        double pick = random.NextDouble() * _total;
        int index = 0;
        while (index < _drawn.Length - 1 && pick >= _drawn[index].Weight)
        {
            pick -= _drawn[index].Weight;
            index++;
        }
        return this[index];
    }

    /// <summary>Reads every source of <paramref name="mixture"/> the task does not hold yet, and checks its data is what
    /// its SHA-256 pins (<see cref="IMixtureTask.Prepare"/>).</summary>
    /// <param name="changed">the message for a source whose data is no longer what it was</param>
    /// <exception cref="Data.DataSetException">a source is gone or its data changed</exception>
    public static void Prepare(
        IMixtureTask task, DataMixture mixture, Func<string, bool> holds, Func<DataSource, string> changed)
    {
        foreach (DataSource source in mixture.Sources.Where(s => !holds(s.Sha256)))
        {
            if (task.Read(source.Name, source.Path, source.Weight).Sha256 != source.Sha256)
            {
                throw new Data.DataSetException(changed(source));
            }
        }
    }
}
