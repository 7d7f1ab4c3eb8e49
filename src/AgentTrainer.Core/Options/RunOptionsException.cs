namespace AgentTrainer.Core.Options;

/// <summary>The run cannot start as asked, for a reason found only once its parts are assembled (a
/// fault naming a layer the model lacks, an output folder that is not a run's, a model too large for
/// the machine). The message says what to change; the process exits with "invalid options" (2).</summary>
public sealed class RunOptionsException(string message) : Exception(message);
