using System.Text.Json.Serialization;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Records;

namespace AgentTrainer.ControlPlane.Remote;

/// <summary>The trainer protocol: how a trainer in another process, language or machine puts its run under
/// the agent. HTTP + JSON (snake_case), outbound requests only: register, send reports in numbered batches,
/// long-poll for commands, report each command's outcome in a later batch.</summary>
public static class TrainerProtocol
{
    public const int Version = 1;
    public const string Prefix = "/api/v1";
}

/// <summary>A trainer asks for a run. <paramref name="Layers"/>: every module a layer command may name (dotted
/// paths); <paramref name="Steps"/>: the steps it means to train; <paramref name="Framework"/> and
/// <paramref name="Device"/> describe it for the records ("torch 1.13.0", "cpu, 2 threads").</summary>
public sealed record RegisterRunRequest(
    int ProtocolVersion, string Name, string Task, long Steps, IReadOnlyList<string> Layers,
    OptimizerSettings Optimizer, TrainerCapabilities Capabilities, string Framework, string Device,
    string? Description = null, int Seed = 0);

/// <summary>The optimizer as it starts: its name and the settings commands change.</summary>
public sealed record OptimizerSettings(string Name, double LearningRate, double WeightDecay, double GradClip);

/// <summary>What the trainer can do: commands it cannot carry out are refused before they are sent.</summary>
public sealed record TrainerCapabilities(bool Checkpoints, bool LayerReset, bool Evaluation, bool DataPosition);

/// <summary>A trainer comes back after its process ended (killed, preempted): the run's next session.</summary>
public sealed record StartSessionRequest(int ProtocolVersion);

/// <summary>The answer to a registration or a new session. <paramref name="Token"/> is scoped to this run: it
/// writes and reads this run and nothing else. <paramref name="ResumeFrom"/>: the checkpoint to load first
/// (a later session).</summary>
public sealed record RunAttached(
    string RunId, string Token, int Session, string Folder, TrainerSchedule Schedule, ResumeFrom? ResumeFrom = null);

/// <summary>What the host asks of the trainer: evaluate and checkpoint this often (0: never periodically),
/// long-poll this long, send at most this many items a batch, and talk at least this often or be lost.</summary>
public sealed record TrainerSchedule(
    int EvalEvery, int CheckpointEvery, double PollWaitSeconds, double LostAfterSeconds, int MaxBatchItems);

/// <summary>Where a later session continues: the checkpoint, its step, its branch, and how many branches the
/// run has (the next one the trainer forks is numbered that).</summary>
public sealed record ResumeFrom(string CheckpointId, long Step, int Branch, int Branches);

/// <summary>Reports in the order they happened. <paramref name="Batch"/> numbers batches from 1 within a
/// session: a batch sent again (its answer lost) is refused as a duplicate, a gap as out of order.</summary>
public sealed record ReportBatch(long Batch, IReadOnlyList<TrainerReport> Items);

/// <summary>One thing the trainer reports; <c>type</c> says which.</summary>
[JsonPolymorphic(TypeDiscriminatorPropertyName = "type")]
[JsonDerivedType(typeof(StepReport), "step")]
[JsonDerivedType(typeof(EvaluationReport), "evaluation")]
[JsonDerivedType(typeof(CheckpointReport), "checkpoint")]
[JsonDerivedType(typeof(OutcomeReport), "outcome")]
[JsonDerivedType(typeof(FinishedReport), "finished")]
public abstract record TrainerReport;

/// <summary>One optimizer step, numbered from 0. A step whose loss or gradient was not finite says so
/// (<paramref name="NonFinite"/>) and sends the loss as null: JSON has no NaN.</summary>
public sealed record StepReport(
    long Step, double? Loss, double LearningRate, double? GradNorm = null, bool NonFinite = false, int Samples = 0,
    double StepMs = 0) : TrainerReport;

/// <summary>An evaluation after <paramref name="Step"/> steps.</summary>
public sealed record EvaluationReport(long Step, double ValLoss, double? Accuracy = null, double? BitsPerChar = null)
    : TrainerReport;

/// <summary>A checkpoint the trainer wrote after <paramref name="Step"/> steps; <paramref name="Id"/> is how a
/// load_checkpoint command names it.</summary>
public sealed record CheckpointReport(string Id, long Step, long Bytes, string? Path = null) : TrainerReport;

/// <summary>What came of a command the trainer was sent: succeeded with what it did, or failed with why.</summary>
public sealed record OutcomeReport(string CommandId, bool Succeeded, string Detail, long Step) : TrainerReport;

/// <summary>The trainer's run ended (completed, stopped, interrupted, diverged, failed) after
/// <paramref name="Step"/> steps. The last evaluation is the handed-back model's; <paramref name="Split"/> says
/// what it was measured on (null: <see cref="EvaluationSplits.TrainersEvaluate"/>).</summary>
public sealed record FinishedReport(string Outcome, long Step, string? Split = null) : TrainerReport;

public sealed record BatchAccepted(long Batch, long Step, int Branch);

/// <summary>Commands for the trainer, oldest first: every one sent and not yet answered by an outcome (a trainer
/// that lost an answer gets them again; it applies each id once).</summary>
public sealed record CommandsForTrainer(IReadOnlyList<CommandForTrainer> Commands);

public sealed record CommandForTrainer(string Id, TrainerCommand Command);
