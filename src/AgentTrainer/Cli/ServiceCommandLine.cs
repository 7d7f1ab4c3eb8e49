using System.CommandLine;
using System.Text.Json;
using AgentTrainer.Agents;
using AgentTrainer.App.Hosting;
using AgentTrainer.ControlPlane;
using AgentTrainer.ControlPlane.Remote;
using AgentTrainer.ControlPlane.Security;
using AgentTrainer.Core.Options;
using AgentTrainer.Service;
using AgentTrainer.Service.Api;
using AgentTrainer.Service.Inbox;
using AgentTrainer.Service.People;
using AgentTrainer.Service.Reports;
using AgentTrainer.Service.Runs;
using AgentTrainer.Service.Store;
using Microsoft.Extensions.DependencyInjection;

namespace AgentTrainer.App.Cli;

/// <summary>The service's commands: <c>serve</c> (the long-lived host of a runs root), <c>submit</c> (queue a run),
/// <c>inbox</c> (one review inbox across runs), <c>report</c> (the morning report) and <c>token</c> (people's tokens,
/// straight on the store: whoever may read the store is its admin).</summary>
public static class ServiceCommandLine
{
    private static readonly Option<string> Root = new("--root")
    {
        Description = "the runs root: every run's folder is a folder under it", DefaultValueFactory = _ => "runs",
    };

    private static readonly Option<string?> Store = new("--store")
    {
        Description = "the store: empty for SQLite in ROOT/.service/service.db, a file for SQLite there, or a PostgreSQL "
            + "connection string (Host=...;Database=...;Username=...) for a store several instances share",
    };

    public static IEnumerable<Command> Create() => [Serve(), Submit(), Inbox(), Report(), Token()];

    private static Command Serve()
    {
        var urls = new Option<string?>("--urls") { Description = $"where to listen (default {ControlPlaneOptions.DefaultUrls})" };
        var maxRuns = new Option<int?>("--max-runs") { Description = "child runs training at once (default 2); the rest wait" };
        var notifications = new Option<string?>("--notifications") { Description = "alert rules (YAML): webhooks and events" };
        var agent = new Option<string?>("--agent") { Description = "the agent of runs attached over the protocol (default: rules)" };
        var policy = new Option<string?>("--policy") { Description = "their policy file (default: policies/unattended.yaml)" };
        var config = new Option<string?>("--config") { Description = "a settings file (sections Service, ControlPlane, Agent, ...)" };
        var command = new Command("serve", "One service for a team's runs: the runs root's runs, one review inbox, alerts, "
            + "the morning report; pages at /service/.") { Root, Store, urls, maxRuns, notifications, agent, policy, config };
        command.SetAction((parse, _) =>
        {
            string root = Path.GetFullPath(parse.GetValue(Root)!);
            var configuration = new Dictionary<string, string?>(StringComparer.OrdinalIgnoreCase)
            {
                [$"{ServiceOptions.Section}:{nameof(ServiceOptions.RunsRoot)}"] = root,
                [$"{TrainingOptions.Section}:{nameof(TrainingOptions.Out)}"] = root, // runs attached over the protocol land here
                [$"{RemoteOptions.Section}:{nameof(RemoteOptions.Enabled)}"] = "true",
            };
            void Set(string key, string? value)
            {
                if (value is not null)
                {
                    configuration[key] = value;
                }
            }
            Set($"{ControlPlaneOptions.Section}:{nameof(ControlPlaneOptions.Urls)}", parse.GetValue(urls));
            Set($"{ServiceOptions.Section}:{nameof(ServiceOptions.Store)}", parse.GetValue(Store));
            Set($"{ServiceOptions.Section}:{nameof(ServiceOptions.MaxConcurrentRuns)}",
                parse.GetValue(maxRuns)?.ToString(System.Globalization.CultureInfo.InvariantCulture));
            Set($"{ServiceOptions.Section}:{nameof(ServiceOptions.Notifications)}", parse.GetValue(notifications));
            Set($"{AgentOptions.Section}:{nameof(AgentOptions.Provider)}", parse.GetValue(agent));
            Set($"{AgentOptions.Section}:{nameof(AgentOptions.Policy)}", parse.GetValue(policy));
            return RunCommandLine.RunHostAsync(configuration, parse.GetValue(config),
                web =>
                {
                    web.AddRunService();
                    web.Services.AddSingleton<IRunStarter, ChildRunStarter>();
                },
                app => app.MapRunService());
        });
        return command;
    }

    private static Command Submit()
    {
        var api = new ApiOptions();
        var file = new Argument<string>("settings") { Description = "the run's settings file (JSON, as for run --config)" };
        var name = new Option<string?>("--name")
        {
            Description = "the run's name (its folder under the runs root); default: the file's name",
        };
        var command = new Command("submit", "Queue a run on the service; it starts when a slot is free.") { file, name };
        api.AddTo(command);
        command.SetAction((parse, _) => ApiOptions.Guard(async () =>
        {
            string path = parse.GetValue(file)!;
            JsonElement settings;
            try
            {
                using JsonDocument document = JsonDocument.Parse(SettingsFile.Read(path));
                settings = document.RootElement.Clone();
            }
            catch (Exception error) when (error is JsonException or InvalidDataException)
            {
                throw new ControlPlaneClientException($"{path}: not a JSON settings file: {error.Message}");
            }
            using ControlPlaneClient client = api.Connect(parse);
            RunEntry run = await client.Post<RunEntry>("/api/service/runs",
                new SubmitRequest(parse.GetValue(name) ?? Path.GetFileNameWithoutExtension(path), settings)).ConfigureAwait(false);
            Console.WriteLine($"{run.Name}: {run.State} ({run.Folder})");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command Inbox()
    {
        var api = new ApiOptions();
        var status = new Option<string?>("--status") { Description = "only proposals of this status (default: all, waiting first)" };
        var list = new Command("list", "Proposals of every run, the most urgent first.") { status };
        api.AddTo(list);
        list.SetAction((parse, _) => ApiOptions.Guard(async () =>
        {
            using ControlPlaneClient client = api.Connect(parse);
            string query = parse.GetValue(status) is { } only ? $"?status={Uri.EscapeDataString(only)}" : "";
            foreach (InboxItem item in await client.Get<InboxItem[]>("/api/service/inbox" + query).ConfigureAwait(false))
            {
                Console.WriteLine($"{item.Run}  {item.ProposalId}  {item.Status,-15} step {item.Step}  {item.Action}  "
                    + $"rule {item.Rule}  until {item.ExpiresAt:u}");
                Console.WriteLine($"    reason: {item.Reason}");
                if (item.Reviewer is not null)
                {
                    Console.WriteLine($"    decided by {item.Reviewer}{(item.Comment is null ? "" : $": {item.Comment}")}");
                }
            }
            return ExitCodes.Success;
        }));
        return new Command("inbox", "One review inbox across the service's runs (decisions are made as your token's person).")
        {
            list, InboxDecision("approve", api, approve: true), InboxDecision("reject", api, approve: false),
        };
    }

    private static Command InboxDecision(string verb, ApiOptions api, bool approve)
    {
        var run = new Argument<string>("run") { Description = "the run's name" };
        var id = new Argument<string>("proposal-id") { Description = "the proposal's id (see inbox list)" };
        var comment = new Option<string?>("--comment") { Description = "why" };
        var command = new Command(verb, approve ? "Approve a waiting proposal." : "Reject a waiting proposal.") { run, id, comment };
        api.AddTo(command);
        command.SetAction((parse, _) => ApiOptions.Guard(async () =>
        {
            using ControlPlaneClient client = api.Connect(parse);
            InboxItem item = await client.Post<InboxItem>(
                $"/api/service/inbox/{Uri.EscapeDataString(parse.GetValue(run)!)}/{Uri.EscapeDataString(parse.GetValue(id)!)}/{verb}",
                new ReviewComment(parse.GetValue(comment))).ConfigureAwait(false);
            Console.WriteLine($"{item.Run} {item.ProposalId}: {item.Status} by {item.Reviewer}.");
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command Report()
    {
        var api = new ApiOptions();
        var since = new Option<DateTimeOffset?>("--since") { Description = "the window's start (default: yesterday 18:00 local)" };
        var output = new Option<string?>("--out")
        {
            Description = "write the Markdown here, each run's chart beside it in charts/ (default: print it)",
        };
        var command = new Command("report", "The morning report across the service's runs, as Markdown.") { since, output };
        api.AddTo(command);
        command.SetAction((parse, _) => ApiOptions.Guard(async () =>
        {
            using ControlPlaneClient client =
                ControlPlaneClient.Create(parse.GetValue(api.Url)!, parse.GetValue(api.Token), tokenRequired: false);
            string window = parse.GetValue(since) is { } from ? $"since={Uri.EscapeDataString(from.ToString("O"))}" : "";
            if (parse.GetValue(output) is { } path)
            {
                string charts = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path))!, ReportWriter.ChartsFolder);
                Directory.CreateDirectory(charts);
                ReportModel report = await client.Get<ReportModel>($"/api/service/report?{window}").ConfigureAwait(false);
                foreach (RunReport run in report.Runs.Where(run => run.FinalValLoss is not null))
                {
                    byte[] chart = await client.Get<byte[]>($"/api/service/runs/{Uri.EscapeDataString(run.Name)}/chart.png")
                        .ConfigureAwait(false);
                    await File.WriteAllBytesAsync(Path.Combine(charts, run.Name + ".png"), chart).ConfigureAwait(false);
                }
                string markdown = await client.Get<string>($"/api/service/report.md?chartFiles=true&{window}").ConfigureAwait(false);
                await File.WriteAllTextAsync(path, markdown).ConfigureAwait(false);
                int charted = report.Runs.Count(run => run.FinalValLoss is not null);
                Console.WriteLine($"wrote {Path.GetFullPath(path)} and {charted} charts in {charts}");
            }
            else
            {
                Console.Write(await client.Get<string>($"/api/service/report.md?{window}").ConfigureAwait(false));
            }
            return ExitCodes.Success;
        }));
        return command;
    }

    private static Command Token()
    {
        var name = new Argument<string>("name") { Description = "the person's name (recorded as the reviewer or operator)" };
        var role = new Option<string>("--role") { Description = $"one of {PersonRoles.Names}", DefaultValueFactory = _ => "viewer" };
        var create = new Command("create", "Make a token for a person; it is shown once, and only its hash is kept.")
        {
            name, role, Root, Store,
        };
        create.SetAction(parse => WithTokens(parse, tokens =>
        {
            if (PersonRoles.Parse(parse.GetValue(role)) is not { } parsed)
            {
                throw new ArgumentException($"--role: '{parse.GetValue(role)}' is not one of {PersonRoles.Names}.");
            }
            (string token, PersonToken entry) = tokens.Create(parse.GetValue(name)!, parsed, Environment.UserName);
            Console.WriteLine($"token {entry.Id} for {entry.Name} ({PersonRoles.Name(entry.Role)}); shown once, keep it:");
            Console.WriteLine(token);
        }));
        var list = new Command("list", "People's tokens (never the tokens themselves).") { Root, Store };
        list.SetAction(parse => WithTokens(parse, tokens =>
        {
            foreach (PersonToken entry in tokens.List())
            {
                Console.WriteLine($"{entry.Id}  {entry.Name,-20} {PersonRoles.Name(entry.Role),-9} created {entry.CreatedAt:u}"
                    + (entry.RevokedAt is { } revoked ? $"  revoked {revoked:u}" : ""));
            }
        }));
        var key = new Argument<string>("token-or-name") { Description = "a token's id, or a person's name (all their tokens)" };
        var revoke = new Command("revoke", "Revoke a token, or every token of a person.") { key, Root, Store };
        revoke.SetAction(parse => WithTokens(parse, tokens =>
        {
            int revoked = tokens.Revoke(parse.GetValue(key)!);
            if (revoked == 0)
            {
                throw new ArgumentException($"no live token with id or name '{parse.GetValue(key)}'.");
            }
            Console.WriteLine($"revoked {revoked} token(s).");
        }));
        return new Command("token", "People's API tokens for the service, with roles.") { create, list, revoke };
    }

    private static int WithTokens(ParseResult parse, Action<PersonTokens> action)
    {
        try
        {
            string root = Path.GetFullPath(parse.GetValue(Root)!);
            using ServiceStore store = ServiceStore.Open(parse.GetValue(Store) ?? "", Path.Combine(root, ".service", "service.db"));
            action(new PersonTokens(store, TimeProvider.System));
            return ExitCodes.Success;
        }
        catch (Exception error) when (error is StoreException or ArgumentException)
        {
            Console.Error.WriteLine($"error: {error.Message}");
            return ExitCodes.InvalidOptions;
        }
    }
}
