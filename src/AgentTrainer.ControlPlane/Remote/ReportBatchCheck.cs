using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Naming;
using AgentTrainer.Core.Records;
using Microsoft.AspNetCore.Http;
using static System.FormattableString;

namespace AgentTrainer.ControlPlane.Remote;

/// <summary>Why a request of the protocol is refused: its HTTP status and what to fix.</summary>
public sealed record ProtocolProblem(int Status, string Detail)
{
    public static ProtocolProblem Conflict(string detail) => new(StatusCodes.Status409Conflict, detail);

    public static ProtocolProblem Invalid(string detail) => new(StatusCodes.Status400BadRequest, detail);
}

/// <summary>Checks a whole batch against the session before any of it is applied (a refused batch changes
/// nothing): numbering, step order (a rollback's outcome moves the expected step to its checkpoint's), finite
/// numbers, known checkpoints and commands.</summary>
public static partial class ReportBatchCheck
{
    /// <summary>How a trainer may end its run (lost is the host's to say).</summary>
    public static readonly string[] TrainerOutcomes =
        [RunOutcomes.Completed, RunOutcomes.Stopped, RunOutcomes.Interrupted, RunOutcomes.Diverged, RunOutcomes.Failed];

    /// <summary>What the check needs to know of the session.</summary>
    public interface ISession
    {
        long LastBatch { get; }

        /// <summary>The step the next step report must carry.</summary>
        long NextStep { get; }
        int MaxBatchItems { get; }
        long? CheckpointStep(string id);

        /// <summary>The command sent to the trainer and not yet answered, or null.</summary>
        CommandRecord? Sent(string id);

        /// <summary>Why an outcome for a command that is not waiting for one cannot be taken (unknown: 404; not
        /// sent, or answered already: 409).</summary>
        ProtocolProblem NotAwaited(string id);
    }

    public static ProtocolProblem? Check(ReportBatch batch, ISession session)
    {
        long last = session.LastBatch;
        if (batch.Batch != last + 1)
        {
            return ProtocolProblem.Conflict(batch.Batch <= last
                ? Invariant($"batch {batch.Batch} was already recorded (the last was {last}); not recorded again.")
                : Invariant($"batch {batch.Batch} is out of order: the next is {last + 1}."));
        }
        if (batch.Items.Count == 0)
        {
            return ProtocolProblem.Invalid("a batch needs at least one item.");
        }
        if (batch.Items.Count > session.MaxBatchItems)
        {
            return new ProtocolProblem(StatusCodes.Status413PayloadTooLarge, Invariant(
                $"a batch holds at most {session.MaxBatchItems} items; got {batch.Items.Count}. Send it in parts."));
        }
        long step = session.NextStep;
        var checkpoints = new HashSet<string>(StringComparer.Ordinal);
        var answered = new HashSet<string>(StringComparer.Ordinal);
        for (int index = 0; index < batch.Items.Count; index++)
        {
            TrainerReport item = batch.Items[index];
            bool final = index == batch.Items.Count - 1;
            ProtocolProblem? problem = item switch
            {
                StepReport report => Invalid(CheckStep(report, ref step)),
                EvaluationReport report => Invalid(CheckEvaluation(report, step)),
                CheckpointReport report => CheckCheckpoint(report, step, session, checkpoints),
                OutcomeReport report => CheckOutcome(report, session, answered, ref step),
                FinishedReport report => Invalid(CheckFinished(report, step, final)),
                _ => ProtocolProblem.Invalid("unknown item."),
            };
            if (problem is not null)
            {
                string where = Invariant($"item {index + 1} ({Type(item)})");
                return problem with { Detail = $"{where}: {problem.Detail} Nothing of the batch was recorded." };
            }
        }
        return null;
    }

    private static string? CheckStep(StepReport report, ref long step)
    {
        string? problem = AtStep("step", report.Step, step)
            ?? (report.NonFinite ? null // its loss (null when not finite) or its gradient was not finite
                : report.Loss is not { } finite
                    ? "loss is null: send non_finite true for a step whose loss was not finite."
                : !double.IsFinite(finite)
                    ? "loss must be a finite number (send non_finite true and loss null instead)." : null)
            ?? Positive("learning_rate", report.LearningRate)
            ?? (report.NonFinite ? null : NonNegative("grad_norm", report.GradNorm))
            ?? NonNegative("step_ms", report.StepMs)
            ?? (report.Samples < 0 ? "samples must be 0 or more." : null);
        step++;
        return problem;
    }

    private static string? CheckEvaluation(EvaluationReport report, long step) =>
        AtStep("evaluation", report.Step, step)
        ?? NonNegative("val_loss", report.ValLoss)
        ?? Fraction("accuracy", report.Accuracy)
        ?? NonNegative("bits_per_char", report.BitsPerChar);

    private static string? CheckFinished(FinishedReport report, long step, bool last) =>
        !last ? "finished must be the batch's last item."
        : !TrainerOutcomes.Contains(report.Outcome)
            ? $"outcome '{report.Outcome}' is not one of {string.Join(", ", TrainerOutcomes)}."
        : report.Split is { } split && !Names.IsValid(NameKind.Label, split)
            ? "split must be 1 to 100 printable characters (what the last evaluation was measured on)."
        : AtStep("finished", report.Step, step);

    private static ProtocolProblem? CheckCheckpoint(
        CheckpointReport report, long step, ISession session, HashSet<string> ids)
    {
        if (Names.Problem(NameKind.Checkpoint, report.Id) is { } badId)
        {
            return ProtocolProblem.Invalid(badId);
        }
        if (session.CheckpointStep(report.Id) is not null || !ids.Add(report.Id))
        {
            return ProtocolProblem.Conflict(
                $"checkpoint {report.Id} was already reported; give each checkpoint its own id.");
        }
        return Invalid(AtStep("checkpoint", report.Step, step)
            ?? (report.Bytes < 0 ? "bytes must be 0 or more." : null));
    }

    private static ProtocolProblem? CheckOutcome(
        OutcomeReport report, ISession session, HashSet<string> answered, ref long step)
    {
        if (answered.Contains(report.CommandId))
        {
            return ProtocolProblem.Conflict($"command {report.CommandId} is already answered in this batch.");
        }
        if (session.Sent(report.CommandId) is not { } record)
        {
            return session.NotAwaited(report.CommandId);
        }
        answered.Add(report.CommandId);
        if (string.IsNullOrWhiteSpace(report.Detail))
        {
            return ProtocolProblem.Invalid("detail must say what the command did, or why it failed.");
        }
        if (report.Step != step)
        {
            return ProtocolProblem.Invalid(
                Invariant($"the outcome is at step {report.Step}, but the trainer is at step {step}."));
        }
        if (report.Succeeded && record.Command is LoadCheckpointCommand load)
        {
            step = session.CheckpointStep(load.CheckpointId) ?? step; // the next step continues from the checkpoint
        }
        return null;
    }

    private static ProtocolProblem? Invalid(string? problem) =>
        problem is null ? null : ProtocolProblem.Invalid(problem);

    private static string? AtStep(string what, long reported, long expected) =>
        reported == expected ? null
            : Invariant($"{what} at step {reported}, but the next is step {expected}")
            + " (steps are numbered from 0, in order).";

    private static string? Positive(string field, double value) =>
        double.IsFinite(value) && value > 0 ? null
            : Invariant($"{field} must be a finite number above 0; got {value}.");

    private static string? NonNegative(string field, double? value) =>
        value is not { } number || (double.IsFinite(number) && number >= 0) ? null
            : Invariant($"{field} must be a finite number, 0 or more; got {number}.");

    private static string? Fraction(string field, double? value) =>
        value is not { } number || number is >= 0 and <= 1 ? null
            : Invariant($"{field} must lie in [0, 1]; got {number}.");

    private static string Type(TrainerReport item) => item switch
    {
        StepReport => "step",
        EvaluationReport => "evaluation",
        CheckpointReport => "checkpoint",
        OutcomeReport => "outcome",
        _ => "finished",
    };
}
