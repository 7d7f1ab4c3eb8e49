namespace AgentTrainer.Core.Runs;

/// <summary>Where a resumed run (a later session of the same run) continues: the checkpoint, its step and
/// branch, the session number, and when the run first started.</summary>
public sealed record ResumePoint(string CheckpointId, long Step, int Branch, int Session, DateTimeOffset FirstStartedAt)
{
    /// <summary>Whether a recorded step or evaluation stands: those on the resumed branch from the
    /// checkpoint's step on are done again (and recorded again) by this session.</summary>
    public bool Precedes(long step, int branch) => branch != Branch || step < Step;
}
