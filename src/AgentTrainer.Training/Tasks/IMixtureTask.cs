using AgentTrainer.Core.Records;

namespace AgentTrainer.Training.Tasks;

/// <summary>A task whose training data is a weighted mixture of sources that update_dataset (and a watched folder)
/// may change at a step boundary, and a checkpoint restores: char-lm's.</summary>
public interface IMixtureTask
{
    /// <summary>The mixture the next batches are drawn from.</summary>
    DataMixture Mixture { get; }

    /// <summary>Reads a source (and keeps its data for <see cref="Use"/>).</summary>
    /// <exception cref="Data.DataSetException">the path is missing, not text, or too short</exception>
    DataSource Read(string name, string path, double weight);

    /// <summary>Makes sure every source of <paramref name="mixture"/> can be used: read where not read yet, and its
    /// text still the one its SHA-256 pins. Changes nothing it trains on.</summary>
    /// <exception cref="Data.DataSetException">a source is gone or its text changed</exception>
    void Prepare(DataMixture mixture);

    /// <summary>Draws the next batches from <paramref name="mixture"/> (prepared).</summary>
    void Use(DataMixture mixture);
}
