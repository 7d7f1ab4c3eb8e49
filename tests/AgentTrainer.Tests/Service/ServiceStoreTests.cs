using System.Text.Json;
using AgentTrainer.Agents.Storage;
using AgentTrainer.ControlPlane.Security;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Service.Alerts;
using AgentTrainer.Service.Audit;
using AgentTrainer.Service.Inbox;
using AgentTrainer.Service.People;
using AgentTrainer.Service.Runs;
using AgentTrainer.Service.Store;
using AgentTrainer.Tests.ControlPlane;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Xunit;

namespace AgentTrainer.Tests.Service;

/// <summary>The service's store, the same tests on SQLite (a file) and on a real PostgreSQL: two service instances
/// opened on one store, as two machines sharing it would, never both make a change that must happen once.</summary>
[Collection(PostgresCollection.Name)]
public sealed class ServiceStoreTests(PostgresServer postgres) : IDisposable
{
    private readonly string _folder = TestFolders.Create("store");

    public void Dispose() => TestFolders.Delete(_folder);

    public static TheoryData<StoreKind> Kinds => new() { StoreKind.Sqlite, StoreKind.Postgres };

    private async Task<string> ConnectionAsync(StoreKind kind) =>
        kind == StoreKind.Postgres ? await postgres.NewDatabaseAsync() : Path.Combine(_folder, "service.db");

    private ServiceStore Open(string connection) => ServiceStore.Open(connection, Path.Combine(_folder, "unused.db"));

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task A_queued_run_is_started_by_one_instance_only_and_the_runs_index_outlives_the_store_being_closed(StoreKind kind)
    {
        string connection = await ConnectionAsync(kind);
        using (ServiceStore first = Open(connection), second = Open(connection))
        {
            Assert.Equal(kind, first.Kind);
            var a = new RunIndex(first, TimeProvider.System);
            var b = new RunIndex(second, TimeProvider.System);
            Assert.True(a.Queue("night-1", "/runs/night-1", RunKinds.BuiltIn, "{}", "alice"));
            Assert.False(b.Queue("night-1", "/runs/night-1", RunKinds.BuiltIn, "{}", "bob")); // the name is taken
            bool[] moved = [a.Move("night-1", RunStates.Queued, RunStates.Starting), b.Move("night-1", RunStates.Queued, RunStates.Starting)];
            Assert.Equal([true, false], moved);
        }
        using ServiceStore reopened = Open(connection);
        RunEntry run = Assert.Single(new RunIndex(reopened, TimeProvider.System).List());
        Assert.Equal(("night-1", RunStates.Starting, "alice"), (run.Name, run.State, run.SubmittedBy));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task A_review_decided_through_one_instance_is_refused_by_the_other_and_the_run_queue_names_the_person(StoreKind kind)
    {
        string connection = await ConnectionAsync(kind);
        string runFolder = Path.Combine(_folder, "runs", "night-1");
        var queue = new ReviewQueue(Path.Combine(runFolder, AgentDatabase.FileName), TimeProvider.System);
        var proposal = new Proposal { Id = "p-1", Action = InterventionAction.HalveLearningRate, Reason = "noisy", BasedOnStep = 300, BasedOnBranch = 0, Source = Core.Commands.CommandSource.Agent };
        queue.Add(proposal, new GateDecision(Verdict.Review, "approval.required_for", "a person decides"), "the summary", TimeSpan.FromHours(1));
        var urgent = proposal with { Id = "p-0" };
        queue.Add(urgent, new GateDecision(Verdict.Review, "approval.required_for", "a person decides"), "the summary", TimeSpan.FromMinutes(5));

        using ServiceStore first = Open(connection), second = Open(connection);
        ReviewInbox Inbox(ServiceStore store)
        {
            var index = new RunIndex(store, TimeProvider.System);
            index.Discover("night-1", runFolder, RunKinds.BuiltIn);
            return new ReviewInbox(store, index, new ServiceAudit(store, TimeProvider.System), TimeProvider.System);
        }
        ReviewInbox a = Inbox(first), b = Inbox(second);
        foreach (ReviewItem item in queue.List())
        {
            a.Mirror("night-1", item);
            b.Mirror("night-1", item); // both instances read the folder: still one row each
        }
        Assert.Equal(["p-0", "p-1"], b.List(ReviewStatus.AwaitingReview).Select(i => i.ProposalId)); // the sooner deadline first

        InboxDecision approved = a.Decide("night-1", "p-1", approve: true, new Person("alice", PersonRole.Reviewer), "go");
        InboxDecision again = b.Decide("night-1", "p-1", approve: false, new Person("bob", PersonRole.Reviewer), null);
        Assert.Equal((ReviewStatus.Approved, "alice"), (approved.Item!.Status, approved.Item.Reviewer));
        Assert.Null(again.Item);
        Assert.False(again.NotFound);
        Assert.Contains("approved, not awaiting review", again.Problem);
        Assert.Equal(("alice", "go"), (queue.List().Single(i => i.ProposalId == "p-1").Reviewer, queue.List().Single(i => i.ProposalId == "p-1").Comment));
        Assert.True(b.Decide("night-1", "missing", approve: true, new Person("bob", PersonRole.Reviewer), null).NotFound);

        ServiceAuditEntry decided = Assert.Single(new ServiceAudit(second, TimeProvider.System).Recent("night-1", 10));
        Assert.Equal(("alice", "review_approved"), (decided.Actor, decided.Type));
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task A_token_is_kept_only_as_a_hash_authenticates_on_every_instance_and_stops_when_revoked(StoreKind kind)
    {
        string connection = await ConnectionAsync(kind);
        using ServiceStore first = Open(connection), second = Open(connection);
        var tokens = new PersonTokens(first, TimeProvider.System);
        (string token, PersonToken entry) = tokens.Create("alice", PersonRole.Reviewer, "admin");
        Assert.Equal(new Person("alice", PersonRole.Reviewer), new PersonTokens(second, TimeProvider.System).Authenticate(token));
        Assert.Null(tokens.Authenticate(token[..^1] + (token[^1] == 'A' ? 'B' : 'A'))); // one character off
        Assert.Null(tokens.Authenticate("not-a-token"));
        string[] stored = [.. first.Query("SELECT token_hash FROM people", reader => reader.GetString(0))];
        Assert.DoesNotContain(token, stored);
        Assert.DoesNotContain(stored, hash => token.Contains(hash, StringComparison.Ordinal));
        Assert.Equal(1, tokens.Revoke(entry.Id));
        Assert.Null(new PersonTokens(second, TimeProvider.System).Authenticate(token));
        Assert.NotNull(tokens.List().Single().RevokedAt);
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Two_instances_sharing_a_store_raise_and_deliver_each_notification_once(StoreKind kind)
    {
        string connection = await ConnectionAsync(kind);
        await using WebhookReceiver receiver = await WebhookReceiver.StartAsync();
        NotificationRules rules = NotificationRulesLoader.Parse($"""
            webhooks:
              team: {"{"} url: "{receiver.Address}/ok", retries: 1, retry_delay_seconds: 0.05 {"}"}
            rules:
              - events: [review_waiting, run_failed]
                webhooks: [team]
            """, "rules.yaml");
        using ServiceProvider http = new ServiceCollection().AddHttpClient().BuildServiceProvider();
        using ServiceStore first = Open(connection), second = Open(connection);
        (Notifier Notifier, WebhookSender Sender) Instance(ServiceStore store)
        {
            var sender = new WebhookSender(store, rules, http.GetRequiredService<IHttpClientFactory>(), TimeProvider.System,
                NullLogger<WebhookSender>.Instance);
            return (new Notifier(store, rules, sender, TimeProvider.System), sender);
        }
        var a = Instance(first);
        var b = Instance(second);
        await a.Sender.StartAsync(CancellationToken.None);
        await b.Sender.StartAsync(CancellationToken.None);
        try
        {
            for (int i = 0; i < 5; i++)
            {
                var notification = new Notification($"review_waiting:night-1:p-{i}", NotificationEvent.ReviewWaiting, "night-1",
                    DateTimeOffset.UtcNow, $"proposal {i} waits", new Dictionary<string, object?> { ["i"] = i });
                Assert.True(a.Notifier.Raise(notification));
                Assert.False(b.Notifier.Raise(notification)); // the other instance saw the same review: told once
            }
            Assert.True(b.Notifier.Raise(new Notification("run_finished:night-1", NotificationEvent.RunFinished, "night-1",
                DateTimeOffset.UtcNow, "finished", new Dictionary<string, object?>()))); // raised, but no rule sends it
            await ProcessApi.UntilAsync(() => Task.FromResult(a.Sender.Log(100).Count(d => d.Status == DeliveryStatus.Delivered) == 5),
                "five deliveries");
            await Task.Delay(500); // a second send would come now
            Assert.Equal(5, receiver.Received.Count);
            Assert.Equal(Enumerable.Range(0, 5).Select(i => $"review_waiting:night-1:p-{i}").Order(),
                receiver.Received.Select(r => r.GetProperty("key").GetString()!).Order());
            Assert.All(receiver.Received, r => Assert.Equal("review_waiting", r.GetProperty("event").GetString()));
            Assert.All(b.Sender.Log(100), d => Assert.Equal(1, d.Attempts));
        }
        finally
        {
            await a.Sender.StopAsync(CancellationToken.None);
            await b.Sender.StopAsync(CancellationToken.None);
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task A_delivery_left_sending_by_a_killed_instance_is_taken_again_once_stale_and_a_fresh_one_is_not(StoreKind kind)
    {
        string connection = await ConnectionAsync(kind);
        await using WebhookReceiver receiver = await WebhookReceiver.StartAsync();
        NotificationRules rules = NotificationRulesLoader.Parse($"""
            webhooks:
              team: {"{"} url: "{receiver.Address}/ok" {"}"}
            rules:
              - {"{"} events: [run_lost], webhooks: [team] {"}"}
            """, "rules.yaml");
        using ServiceProvider http = new ServiceCollection().AddHttpClient().BuildServiceProvider();
        using ServiceStore store = Open(connection);
        var notifier = new Notifier(store, rules, new WebhookSender(store, rules, http.GetRequiredService<IHttpClientFactory>(),
            TimeProvider.System, NullLogger<WebhookSender>.Instance), TimeProvider.System);
        foreach (string run in (string[])["stale", "fresh"])
        {
            notifier.Raise(new Notification($"run_lost:{run}", NotificationEvent.RunLost, run, DateTimeOffset.UtcNow, "lost",
                new Dictionary<string, object?>()));
        }
        // As a killed instance leaves them: taken (sending), one seven hours ago, one a moment ago.
        store.Execute("UPDATE deliveries SET status = 'sending', time = @time WHERE notification = 'run_lost:stale'",
            ("@time", ServiceStore.Time(DateTimeOffset.UtcNow.AddHours(-7))));
        store.Execute("UPDATE deliveries SET status = 'sending', time = @time WHERE notification = 'run_lost:fresh'",
            ("@time", ServiceStore.Time(DateTimeOffset.UtcNow)));

        var restarted = new WebhookSender(store, rules, http.GetRequiredService<IHttpClientFactory>(), TimeProvider.System,
            NullLogger<WebhookSender>.Instance);
        await restarted.StartAsync(CancellationToken.None);
        try
        {
            await ProcessApi.UntilAsync(() => Task.FromResult(!receiver.Received.IsEmpty), "the stale delivery");
            await Task.Delay(1500); // a wrongly taken fresh one would come now
            JsonElement received = Assert.Single(receiver.Received);
            Assert.Equal("run_lost:stale", received.GetProperty("key").GetString());
            Assert.Equal(DeliveryStatus.Sending, restarted.Log(10).Single(d => d.Notification == "run_lost:fresh").Status);
        }
        finally
        {
            await restarted.StopAsync(CancellationToken.None);
        }
    }

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task A_run_audit_entry_mirrored_by_two_instances_is_stored_once(StoreKind kind)
    {
        string connection = await ConnectionAsync(kind);
        string database = Path.Combine(_folder, "run", AgentDatabase.FileName);
        await using (var log = new AuditLog(database))
        {
            log.OnEvent(new RunFinishedEvent { Time = DateTimeOffset.UtcNow, Step = 600, Branch = 0, Outcome = RunOutcomes.Completed });
        }
        AuditEntry entry = Assert.Single(AuditLog.ReadAfter(database, 0, 10));
        using ServiceStore first = Open(connection), second = Open(connection);
        new ServiceAudit(first, TimeProvider.System).Mirror("night-1", entry, null);
        new ServiceAudit(second, TimeProvider.System).Mirror("night-1", entry, null);
        ServiceAuditEntry stored = Assert.Single(new ServiceAudit(first, TimeProvider.System).Recent(null, 10));
        Assert.Equal(("night-1", "run_finished", 600L), (stored.Run, stored.Type, stored.Step!.Value));
    }

    [Fact]
    public void A_store_that_cannot_be_reached_is_an_error_naming_it()
    {
        StoreException refused = Assert.Throws<StoreException>(() =>
            ServiceStore.Open("Host=127.0.0.1;Port=1;Username=nobody;Database=none;Timeout=2", "unused.db"));
        Assert.Contains("PostgreSQL database 'none' on 127.0.0.1:1", refused.Message);
        string file = Path.Combine(_folder, "a-file");
        File.WriteAllText(file, "mine");
        StoreException notAFolder = Assert.Throws<StoreException>(() => ServiceStore.Open(Path.Combine(file, "service.db"), "unused.db"));
        Assert.Contains(file, notAFolder.Message);
        Assert.Equal("mine", File.ReadAllText(file));
    }
}
