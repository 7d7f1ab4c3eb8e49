using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Records;
using AgentTrainer.Training.Data;
using AgentTrainer.Training.Tasks;
using static System.FormattableString;

namespace AgentTrainer.Training.Trainer;

/// <summary>The training data's mixture as update_dataset and a watched folder change it, for a task whose data is a
/// mixture (<see cref="IMixtureTask"/>). Used by the training thread only.</summary>
/// <param name="watchFolder">the folder whose new files are folded in (null: none)</param>
internal sealed class DatasetControl(IMixtureTask? task, string? watchFolder, double watchWeight)
{
    /// <summary>Steps between two looks into the watched folder (a look lists a folder: cheap, but not free).</summary>
    public const int WatchEvery = 10;

    public static readonly DatasetControl None = new(null, null, 0);

    /// <summary>The mixture now (null: the task's data is not a mixture).</summary>
    public DataMixture? Mixture => task?.Mixture;

    /// <summary>Applies an update whole or not at all; returns what changed.</summary>
    /// <exception cref="CommandRejectedException">the task has no mixture, a source is unknown or taken, a path cannot
    /// be read, or nothing would be left to train on</exception>
    public string Update(UpdateDatasetCommand update)
    {
        IMixtureTask mixture = task ?? throw new CommandRejectedException(
            "this task's data is not a mixture of sources; update_dataset reaches char-lm's.");
        List<DataSource> sources = [.. mixture.Mixture.Sources];
        string known = string.Join(", ", sources.Select(s => s.Name));
        foreach (string name in update.Remove.Concat(update.Weights.Keys).Where(n => sources.All(s => s.Name != n)))
        {
            throw new CommandRejectedException($"no data source '{name}'; the mixture has {known}.");
        }
        foreach (DataSourceSpec added in update.Add.Where(a => sources.Any(s => s.Name == a.Name)))
        {
            throw new CommandRejectedException($"a data source is named '{added.Name}' already; the mixture has {known}.");
        }
        sources.RemoveAll(s => update.Remove.Contains(s.Name));
        sources = [.. sources.Select(s => update.Weights.TryGetValue(s.Name, out double w) ? s with { Weight = w } : s)];
        try
        {
            sources.AddRange(update.Add.Select(a => mixture.Read(a.Name, a.Path, a.Weight)));
        }
        catch (DataSetException error)
        {
            throw new CommandRejectedException(error.Message);
        }
        if (!sources.Any(s => s.Weight > 0))
        {
            throw new CommandRejectedException("every source would have weight 0: nothing would be left to train on.");
        }
        mixture.Use(new DataMixture(sources));
        return Describe(update);
    }

    /// <summary>At a boundary every <see cref="WatchEvery"/> steps: the files new in the watched folder join the mixture
    /// (named after the file); returns what changed, or null.</summary>
    public string? FoldInArrivals(long step)
    {
        if (task is null || watchFolder is null || step % WatchEvery != 0 || !Directory.Exists(watchFolder))
        {
            return null;
        }
        HashSet<string> known = [.. task.Mixture.Sources.Select(s => s.Path)];
        string[] arrived = [.. Directory.EnumerateFiles(watchFolder).Order(StringComparer.Ordinal)
            .Where(f => !known.Contains(f) && !f.EndsWith(".tmp", StringComparison.Ordinal))];
        if (arrived.Length == 0)
        {
            return null;
        }
        List<DataSource> sources = [.. task.Mixture.Sources];
        var folded = new List<string>();
        foreach (string file in arrived)
        {
            string name = Path.GetFileName(file);
            while (sources.Any(s => s.Name == name))
            {
                name += "+";
            }
            try
            {
                sources.Add(task.Read(name, file, watchWeight));
                folded.Add(name);
            }
            catch (DataSetException error)
            {
                folded.Add(Invariant($"{name} not read ({error.Message})"));
                known.Add(file);
            }
        }
        task.Use(new DataMixture(sources));
        return Invariant($"folded in from {watchFolder} (weight {watchWeight:G4}): {string.Join(", ", folded)}");
    }

    /// <summary>Makes sure a checkpoint's mixture can be restored, before anything is.</summary>
    /// <exception cref="DataSetException">a source is gone or its text changed</exception>
    public void Prepare(DataMixture? mixture)
    {
        if (task is not null && mixture is not null)
        {
            task.Prepare(mixture);
        }
    }

    /// <summary>Back to a checkpoint's mixture (an older checkpoint without one keeps the present's); true when the
    /// mixture changed.</summary>
    public bool Restore(DataMixture? mixture)
    {
        if (task is null || mixture is null || mixture.Sources.SequenceEqual(task.Mixture.Sources))
        {
            return false;
        }
        task.Use(mixture);
        return true;
    }

    private static string Describe(UpdateDatasetCommand update) => string.Join("; ", new[]
    {
        update.Add.Count > 0 ? "added " + string.Join(", ", update.Add.Select(a => Invariant($"{a.Name} (weight {a.Weight:G4})"))) : null,
        update.Remove.Count > 0 ? "removed " + string.Join(", ", update.Remove) : null,
        update.Weights.Count > 0 ? "weights " + string.Join(", ", update.Weights.Select(w => Invariant($"{w.Key} {w.Value:G4}"))) : null,
    }.OfType<string>());
}
