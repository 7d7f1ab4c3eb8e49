namespace AgentTrainer.Training.Checkpoints;

/// <summary>A checkpoint that cannot be used: unknown, unreadable, truncated or failing its checksum.</summary>
public sealed class CheckpointException : Exception
{
    public CheckpointException(string message)
        : base(message)
    {
    }

    public CheckpointException(string message, Exception inner)
        : base(message, inner)
    {
    }
}
