namespace AgentTrainer.Training.Data;

/// <summary>A data set that is missing, unreadable or corrupt. The message says what to do about it.</summary>
public sealed class DataSetException : Exception
{
    public DataSetException(string message)
        : base(message)
    {
    }

    public DataSetException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
