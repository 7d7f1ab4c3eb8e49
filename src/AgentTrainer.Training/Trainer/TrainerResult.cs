namespace AgentTrainer.Training.Trainer;

/// <summary>How a run ended, at which step, the checkpoint holding the model it hands back (the last
/// state, or the best when that was better) and its step, and the checkpoint with the best validation loss with
/// its loss on the whole held-out set (as the final model's is measured).</summary>
public sealed record TrainerResult(
    string Outcome, long Step, int Branches, string ModelCheckpoint, long ModelStep, string BestCheckpoint,
    double BestCheckpointValLoss);
