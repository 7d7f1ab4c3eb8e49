using System.Globalization;
using System.Text.Json;
using AgentTrainer.Agents.Storage;
using AgentTrainer.ControlPlane.Remote;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Service.Alerts;
using AgentTrainer.Service.Audit;
using AgentTrainer.Service.Inbox;
using AgentTrainer.Service.Store;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentTrainer.Service.Runs;

/// <summary>Reads the runs root into the store, again and again: each run folder's state (live while a process
/// holds its lock; else what its run.json says; lost when it says running and nobody holds it), its reviews (the
/// inbox) and its audit log, and raises the notifications these changes call for. The folders stay the truth —
/// the store can be rebuilt from them — so a service killed at any point loses nothing.</summary>
public sealed partial class RunFolderSync(
    IOptions<ServiceOptions> options, RunIndex index, ServiceAudit audit, ReviewInbox inbox, Notifier notifier,
    RunLauncher launcher, ILogger<RunFolderSync> logger) : BackgroundService
{
    private const int AuditBatch = 500;
    private readonly Dictionary<string, string> _seen = new(StringComparer.Ordinal);
    private readonly Lock _gate = new();

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.SyncInterval);
        do
        {
            try
            {
                SyncOnce();
            }
            catch (Exception error) when (error is System.Data.Common.DbException or IOException or StoreException)
            {
                LogSyncFailed(logger, error);
            }
        }
        while (await timer.WaitForNextTickAsync(stoppingToken).ConfigureAwait(false));
    }

    /// <summary>One pass over the runs root (also called by the API after a change, so a page shows it at
    /// once).</summary>
    public void SyncOnce()
    {
        lock (_gate)
        {
            string root = Path.GetFullPath(options.Value.RunsRoot);
            Directory.CreateDirectory(root);
            foreach (string folder in Directory.EnumerateDirectories(root))
            {
                string name = Path.GetFileName(folder);
                if (!name.StartsWith('.') && IsRunFolder(folder))
                {
                    SyncFolder(name, folder);
                }
            }
            foreach (RunEntry ended in index.List().Where(run => run.State == RunStates.Starting && !IsRunFolder(run.Folder)
                         && !launcher.ProcessAlive(run)))
            {
                FailedToStart(ended);
            }
        }
    }

    /// <summary>A run whose process ended before it made its folder (its settings or policy refused at
    /// start).</summary>
    private void FailedToStart(RunEntry run)
    {
        string why = launcher.WhyItEnded(run);
        if (index.Move(run.Name, RunStates.Starting, RunOutcomes.Failed, why))
        {
            RaiseEnd(run, RunOutcomes.Failed, null, why);
        }
    }

    private static bool IsRunFolder(string folder) =>
        File.Exists(Path.Combine(folder, RunFolderLock.FileName)) || File.Exists(Path.Combine(folder, RunRecorder.SummaryFile));

    private void SyncFolder(string name, string folder)
    {
        RunEntry? entry = index.Find(name);
        if (entry is null)
        {
            if (RunRecordReader.TryReadSummary(folder) is not { } found)
            {
                return; // someone's run starting, or a trainer attaching: known once its run.json says what it is
            }
            index.Discover(name, folder, KindOf(found));
            entry = index.Find(name)!;
        }
        if (entry.State is RunStates.Queued or RunStates.Cancelled)
        {
            return; // the launcher's until it starts; a folder from before a requeue is read again once it has
        }
        string database = Path.Combine(folder, AgentDatabase.FileName);
        bool live = RunFolderLock.IsHeld(folder);
        string fingerprint = string.Join('|', entry.State, live, Stamp(Path.Combine(folder, RunRecorder.SummaryFile)),
            Stamp(database), Stamp(database + "-wal"));
        if (_seen.GetValueOrDefault(name) == fingerprint && entry.State != RunStates.Starting)
        {
            return; // nothing in the folder changed since the last pass (a live run's agent.db changes with each decision)
        }
        _seen[name] = fingerprint;

        RunSummary? summary = RunRecordReader.TryReadSummary(folder);
        // A run that ended after its folder was locked has ended, though the lock is still held (a remote run's host
        // keeps it for the trainer's next session); one that ended before was started again, and is live.
        bool ended = summary is { Status: not RunOutcomes.Running } && (!live
            || summary.FinishedAt > File.GetLastWriteTimeUtc(Path.Combine(folder, RunFolderLock.FileName)));
        if (!ended && !live && entry.State != RunStates.Starting && launcher.ProcessAlive(entry))
        {
            _seen.Remove(name); // it let its lock go and is exiting: judged once its exit code says how it ended
            return;
        }
        (string state, string? message) = ended ? (summary!.Status, summary.Error)
            : live ? (RunOutcomes.Running, null)
            : entry.State == RunStates.Starting && launcher.ProcessAlive(entry) ? (RunStates.Starting, null)
            : entry.State == RunStates.Starting ? (RunOutcomes.Failed, launcher.WhyItEnded(entry))
            : launcher.RefusedToRun(entry) is { } refused ? (RunOutcomes.Failed, refused)
            : (RunOutcomes.Lost, "its process ended without finishing the run (killed, or its machine went down)");
        index.Observe(name, state, summary?.StartedAt, summary?.FinishedAt, message, ended ? summary!.Final?.HandedBack : null);
        if (state != entry.State && entry.IsLive && RunStates.IsFinal(state))
        {
            RaiseEnd(entry, state, summary, message);
        }
        if (File.Exists(database))
        {
            MirrorReviews(name, database);
            MirrorAudit(entry, database);
        }
    }

    private static string KindOf(RunSummary? summary) =>
        summary?.Configuration.Schedule == RemoteRuns.TrainerOwnSchedule ? RunKinds.Remote
        : !string.IsNullOrEmpty(summary?.Configuration.TaskAssembly) ? RunKinds.OwnTask
        : RunKinds.BuiltIn;

    private static string Stamp(string path) =>
        File.Exists(path) ? File.GetLastWriteTimeUtc(path).Ticks.ToString(CultureInfo.InvariantCulture) : "-";

    private void RaiseEnd(RunEntry entry, string state, RunSummary? summary, string? message)
    {
        NotificationEvent kind = state switch
        {
            RunOutcomes.Failed => NotificationEvent.RunFailed,
            RunOutcomes.Lost => NotificationEvent.RunLost,
            RunOutcomes.Diverged => NotificationEvent.RunDiverged,
            _ => NotificationEvent.RunFinished,
        };
        FinalFigures? final = summary?.Final;
        string figures = final?.HandedBack is { } handedBack
            ? string.Create(CultureInfo.InvariantCulture,
                $", from val_loss {final.InitialValLoss:F4}: hands back {handedBack.Description}")
            : "";
        notifier.Raise(new Notification(
            $"{NotificationEvents.Name(kind)}:{entry.Name}:{summary?.Session ?? 0}:{(summary?.StartedAt ?? entry.UpdatedAt).UtcTicks}",
            kind, entry.Name, DateTimeOffset.UtcNow,
            $"{state} after {final?.Steps ?? 0} steps{figures}{(message is null ? "" : $" ({message})")}",
            new Dictionary<string, object?>
            {
                ["state"] = state, ["steps"] = final?.Steps, ["final_val_loss"] = final?.FinalValLoss,
                ["handed_back"] = final?.HandedBack,
                ["best_val_loss"] = final?.BestValLoss, ["initial_val_loss"] = final?.InitialValLoss, ["message"] = message,
            }));
    }

    private void MirrorReviews(string run, string database)
    {
        foreach (ReviewItem item in new ReviewQueue(database, TimeProvider.System).List())
        {
            inbox.Mirror(run, item);
            if (item.Status == ReviewStatus.AwaitingReview)
            {
                notifier.Raise(new Notification($"review_waiting:{run}:{item.ProposalId}", NotificationEvent.ReviewWaiting,
                    run, item.CreatedAt,
                    $"{InterventionActions.Name(item.Action)} at step {item.Step} waits for review until "
                        + $"{item.ExpiresAt:u}: {item.Reason}",
                    new Dictionary<string, object?>
                    {
                        ["proposal_id"] = item.ProposalId, ["action"] = InterventionActions.Name(item.Action),
                        ["step"] = item.Step, ["reason"] = item.Reason, ["rule"] = item.Rule, ["expires_at"] = item.ExpiresAt,
                    }));
            }
        }
    }

    private void MirrorAudit(RunEntry entry, string database)
    {
        long position = entry.AuditPosition;
        IReadOnlyList<AuditEntry> entries;
        do
        {
            entries = AuditLog.ReadAfter(database, position, AuditBatch);
            foreach (AuditEntry auditEntry in entries)
            {
                RunEvent? runEvent = auditEntry.Event.Deserialize<RunEvent>(RunJson.Options);
                audit.Mirror(entry.Name, auditEntry, Actor(runEvent));
                if (runEvent is not null)
                {
                    RaiseFor(entry.Name, auditEntry.Id, runEvent);
                }
                position = auditEntry.Id;
            }
        }
        while (entries.Count == AuditBatch);
        if (position != entry.AuditPosition)
        {
            index.SetAuditPosition(entry.Name, position);
        }
    }

    /// <summary>Who did it, where the event says: a reviewer, or the source of a command.</summary>
    private static string? Actor(RunEvent? runEvent) => runEvent switch
    {
        ReviewEvent review => review.Reviewer,
        CommandEvent command => command.Source.ToString().ToLowerInvariant(),
        ProposalEvent proposal => proposal.Source.ToString().ToLowerInvariant(),
        _ => null,
    };

    private void RaiseFor(string run, long auditId, RunEvent runEvent)
    {
        (NotificationEvent kind, string text)? notification = runEvent switch
        {
            CommandEvent { Status: CommandStatus.Succeeded, Source: CommandSource.Agent or CommandSource.Guard } command =>
                (NotificationEvent.InterventionApplied, $"{command.Kind} applied at step {command.Step} by the "
                    + command.Source.ToString().ToLowerInvariant()),
            ReviewEvent { Status: ReviewStatus.Applied } review => (NotificationEvent.InterventionApplied,
                $"proposal {review.ProposalId} applied at step {review.Step}, approved by {review.Reviewer ?? "a reviewer"}"),
            BatchSkippedEvent skipped => (NotificationEvent.GuardFired, string.Create(CultureInfo.InvariantCulture,
                $"the loss guard skipped a batch at step {skipped.Step} (loss {skipped.Loss:0.###}, "
                + $"{skipped.Factor:0.#}x the average)")),
            NonFiniteLossEvent nonFinite => (NotificationEvent.GuardFired,
                $"a non-finite loss at step {nonFinite.Step} ({nonFinite.Consecutive} in a row)"),
            _ => null,
        };
        if (notification is { } raised)
        {
            notifier.Raise(new Notification($"{NotificationEvents.Name(raised.kind)}:{run}:{auditId}", raised.kind, run,
                runEvent.Time, raised.text,
                new Dictionary<string, object?> { ["step"] = runEvent.Step, ["branch"] = runEvent.Branch }));
        }
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Reading the runs root into the store failed; trying again")]
    private static partial void LogSyncFailed(ILogger logger, Exception error);
}
