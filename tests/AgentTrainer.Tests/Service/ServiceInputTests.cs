using System.Text.Json;
using AgentTrainer.App.Hosting;
using AgentTrainer.Service;
using AgentTrainer.ControlPlane.Security;
using AgentTrainer.Service.Alerts;
using AgentTrainer.Service.People;
using AgentTrainer.Service.Runs;
using AgentTrainer.Service.Store;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Xunit;

namespace AgentTrainer.Tests.Service;

/// <summary>Bad input to the service — an alert rules file, a submitted run — is a clear error naming what is wrong,
/// and loses nothing: nothing half-queued, no file of the user's touched.</summary>
public sealed class ServiceInputTests : IDisposable
{
    private readonly string _folder = TestFolders.Create("service-input");

    public void Dispose() => TestFolders.Delete(_folder);

    [Fact]
    public void An_alert_rules_file_with_mistakes_names_each_one_with_its_line()
    {
        const string Yaml = """
            webhooks:
              team: { url: "ftp://example.org/hook", retries: 99 }
              chat: { url: "http://127.0.0.1:9/hook", format: teams, colour: red }
            rules:
              - events: [review_waiting, run_explode]
                webhooks: [team, pager]
            extra: 1
            """;
        NotificationRulesException error = Assert.Throws<NotificationRulesException>(() => NotificationRulesLoader.Parse(Yaml, "alerts.yaml"));
        string[] problems = error.Message.Split(Environment.NewLine);
        Assert.Contains(problems, p => p.StartsWith("alerts.yaml:7: unknown key 'extra'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("alerts.yaml:2: webhooks.team.url: an absolute http or https address", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("alerts.yaml:2: webhooks.team.retries: a number from 0 to 10", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("alerts.yaml:3: webhooks.chat.format: json or slack; got 'teams'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("alerts.yaml:3: unknown key 'colour'", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("alerts.yaml:5: rules[0].events: 'run_explode' is not one of review_waiting", StringComparison.Ordinal));
        Assert.Contains(problems, p => p.StartsWith("alerts.yaml:6: rules[0].webhooks: no webhook named 'pager'", StringComparison.Ordinal));
        Assert.Equal(7, problems.Length);
    }

    [Fact]
    public void A_rule_sends_only_its_events_of_its_runs_to_each_webhook_once()
    {
        NotificationRules rules = NotificationRulesLoader.Parse("""
            webhooks:
              team: { url: "http://127.0.0.1:9/a" }
              chat: { url: "http://127.0.0.1:9/b", format: slack }
            rules:
              - { events: [run_failed, run_lost], webhooks: [team, chat] }
              - { events: [run_failed], webhooks: [team], runs: "night-*" }
            """, "alerts.yaml");
        Notification Of(NotificationEvent kind, string run) => new("k", kind, run, DateTimeOffset.UtcNow, "t", new Dictionary<string, object?>());
        Assert.Equal(["team", "chat"], rules.Targets(Of(NotificationEvent.RunFailed, "night-1")).Select(w => w.Name));
        Assert.Equal(WebhookFormat.Slack, rules.Webhooks["chat"].Format);
        Assert.Empty(rules.Targets(Of(NotificationEvent.RunFinished, "night-1")));
        Assert.Equal(["team", "chat"], rules.Targets(Of(NotificationEvent.RunLost, "day-1")).Select(w => w.Name));
    }

    [Fact]
    public void A_submitted_run_with_bad_settings_or_a_taken_name_is_refused_with_the_reason_and_nothing_is_queued()
    {
        string root = Path.Combine(_folder, "runs");
        Directory.CreateDirectory(Path.Combine(root, "mine"));
        File.WriteAllText(Path.Combine(root, "mine", "notes.txt"), "my own file");
        var options = Options.Create(new ServiceOptions { RunsRoot = root });
        using ServiceStore store = ServiceStore.Open("", Path.Combine(options.Value.ServiceFolder, "service.db"));
        var index = new RunIndex(store, TimeProvider.System);
        using var launcher = new RunLauncher(options, index, new ChildRunStarter(), NullLogger<RunLauncher>.Instance);

        SubmitResult badKey = launcher.Submit("night-1", Json("""{"Training": {"Stepz": 10}}"""), "alice");
        Assert.Contains("Training:Stepz: unknown", badKey.Problem);
        Assert.Contains("Steps", badKey.Problem); // did you mean
        SubmitResult badValue = launcher.Submit("night-1", Json("""{"Training": {"Steps": "many"}}"""), "alice");
        Assert.Contains("Training:Steps", badValue.Problem);
        Assert.Contains("must be 1 to 64", launcher.Submit("../escape", Json("{}"), "alice").Problem);
        // A final newline is no part of a name (.NET's $ matches before one), and the refusal shows it escaped.
        Assert.Contains("'night-1\\u000a' must be 1 to 64", launcher.Submit("night-1\n", Json("{}"), "alice").Problem);
        Assert.Contains("JSON object", launcher.Submit("night-1", Json("[1, 2]"), "alice").Problem);
        string brokenPolicy = Path.Combine(_folder, "broken.yaml");
        File.WriteAllText(brokenPolicy, "name: broken\nlearning_rate: {min: -1}\n");
        Assert.Contains("broken.yaml", launcher.Submit("night-1", Json($$$"""{"Agent": {"Policy": "{{{brokenPolicy}}}"}}"""), "alice").Problem);
        SubmitResult taken = launcher.Submit("mine", Json("""{"Training": {"Steps": 10}}"""), "alice");
        Assert.True(taken.IsConflict);
        Assert.Contains("exists already", taken.Problem);

        Assert.Empty(index.List());
        Assert.False(File.Exists(launcher.SubmissionFile("night-1")));
        Assert.Equal("my own file", File.ReadAllText(Path.Combine(root, "mine", "notes.txt")));

        // The default policy is found as a run finds it (beside the binary), whatever the service's working folder.
        SubmitResult queued = launcher.Submit("night-1",
            Json("""{"Training": {"Task": "synthetic", "Steps": 10}, "Agent": {"Provider": "rules"}}"""), "alice");
        Assert.Equal((RunStates.Queued, RunKinds.BuiltIn, "alice"), (queued.Run!.State, queued.Run.Kind, queued.Run.SubmittedBy));
        Assert.True(launcher.Submit("night-1", Json("""{"Training": {"Steps": 10}}"""), "bob").IsConflict);
    }

    [Fact]
    public async Task Same_name_submissions_at_once_to_two_instances_queue_one_run_with_the_winners_settings()
    {
        string root = Path.Combine(_folder, "runs");
        var options = Options.Create(new ServiceOptions { RunsRoot = root });
        string database = Path.Combine(options.Value.ServiceFolder, "service.db");
        Directory.CreateDirectory(options.Value.ServiceFolder);
        using ServiceStore first = ServiceStore.Open("", database), second = ServiceStore.Open("", database);
        using var one = new RunLauncher(options, new RunIndex(first, TimeProvider.System), new ChildRunStarter(),
            NullLogger<RunLauncher>.Instance);
        using var other = new RunLauncher(options, new RunIndex(second, TimeProvider.System), new ChildRunStarter(),
            NullLogger<RunLauncher>.Instance);
        for (int round = 0; round < 5; round++)
        {
            string name = $"night-{round}";
            // Every fourth sends settings that are refused: before, its clean-up removed the winner's file.
            SubmitResult[] results = await Task.WhenAll(Enumerable.Range(0, 8).Select(i => Task.Run(() =>
                (i % 2 == 0 ? one : other).Submit(name, i % 4 == 3 ? Json("""{"Training": {"Stepz": 1}}""")
                    : Json($$$"""{"Training": {"Task": "synthetic", "Steps": {{{10 + i}}}}}"""), $"person-{i}"))));
            SubmitResult won = Assert.Single(results, r => r.Run is not null);
            Assert.All(results.Where(r => r != won), r => Assert.True(r.IsConflict || r.Problem!.Contains("Stepz"), r.Problem));
            RunEntry queued = new RunIndex(first, TimeProvider.System).Find(name)!;
            int winner = int.Parse(queued.SubmittedBy!["person-".Length..], System.Globalization.CultureInfo.InvariantCulture);
            Assert.Contains($"\"Steps\": {10 + winner}", queued.Settings, StringComparison.Ordinal); // the winner's, not a loser's
        }
        // Nothing is written under a name at submission: only the instance that starts the run writes its file.
        Assert.Empty(Directory.GetFiles(Path.Combine(options.Value.ServiceFolder, "submissions")));
    }

    [Fact]
    public void A_token_for_a_reserved_or_unprintable_name_is_refused_and_nothing_is_stored()
    {
        using ServiceStore store = ServiceStore.Open("", Path.Combine(_folder, "people.db"));
        var tokens = new PersonTokens(store, TimeProvider.System);
        // "operator" is who the host's own token is shown as: a person so named could not be told apart in the audit.
        Assert.Contains("is reserved", Assert.Throws<ArgumentException>(() => tokens.Create("operator", PersonRole.Admin, "admin")).Message);
        Assert.Contains("is reserved", Assert.Throws<ArgumentException>(() => tokens.Create("Anonymous", PersonRole.Viewer, "admin")).Message);
        Assert.Throws<ArgumentException>(() => tokens.Create("bob\u202Eecila", PersonRole.Reviewer, "admin"));
        Assert.Empty(tokens.List());
        tokens.Create("alice", PersonRole.Reviewer, "admin");
        Assert.Equal("alice", tokens.List().Single().Name);
    }

    private static JsonElement Json(string text)
    {
        using JsonDocument document = JsonDocument.Parse(text);
        return document.RootElement.Clone();
    }
}
