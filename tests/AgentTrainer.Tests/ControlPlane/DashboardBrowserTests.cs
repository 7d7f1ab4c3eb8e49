using AgentTrainer.Agents.Storage;
using AgentTrainer.App.Hosting;
using AgentTrainer.ControlPlane;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using AgentTrainer.Core.Runs;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Playwright;
using Xunit;

namespace AgentTrainer.Tests.ControlPlane;

/// <summary>The dashboard in a real browser (Debian's Chromium driven by Playwright) against a real
/// host on a loopback port: the chart grows, an agent proposal waits for review, a click approves it,
/// and the run applies it.</summary>
public sealed class DashboardBrowserTests : IAsyncLifetime
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly string[] ChromiumFlags =
        ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

    private readonly string _folder = TestFolders.Create("dashboard");
    private IHost _host = null!;
    private string _address = "";

    public async Task InitializeAsync()
    {
        // The supervised policy, but a proposal never goes stale or out of reach while the page is
        // looked at: this synthetic run trains hundreds of steps a second, more than that on a fast machine.
        string policy = Path.Combine(_folder, "supervised-slow-reader.yaml");
        File.WriteAllText(policy, File.ReadAllText("policies/supervised.yaml")
            .Replace("staleness_steps: 200", "staleness_steps: 10000000", StringComparison.Ordinal)
            .Replace("max_depth_steps: 5000", "max_depth_steps: 10000000", StringComparison.Ordinal));
        _host = AgentTrainerHost.Build(new Dictionary<string, string?>
        {
            ["Training:Task"] = "synthetic",
            ["Training:Steps"] = "400000",
            ["Training:Threads"] = "1",
            ["Training:CheckpointEvery"] = "0",
            ["Training:SnapshotsKept"] = "100000", // the proposal's checkpoint stays in memory however long the page takes
            // An lr spike the rules agent notices; under the supervised policy its fix waits for a person.
            ["Training:Faults:0:Kind"] = "lr-spike",
            ["Training:Faults:0:Step"] = "300",
            ["Training:Faults:0:Factor"] = "50",
            ["Training:Out"] = Path.Combine(_folder, "run"),
            ["Agent:Provider"] = "rules",
            ["Agent:Policy"] = policy,
            ["ControlPlane:Urls"] = "http://127.0.0.1:0",
            ["ControlPlane:Token"] = ControlPlaneFactory.Token,
        }, configFile: null);
        await _host.StartAsync();
        _address = _host.Services.ServerAddresses().Single();
    }

    [Fact]
    public async Task The_dashboard_shows_the_run_live_and_a_click_approves_a_proposal_the_run_then_applies()
    {
        Assert.True(File.Exists(Chromium), "Debian's chromium is installed by scripts/install-deps.sh");
        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ChromiumFlags });
        IPage page = await browser.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, error) => errors.Add(error);
        try
        {
            await page.GotoAsync($"{_address}/#token={ControlPlaneFactory.Token}");
            Assert.DoesNotContain("token=", page.Url); // taken from the fragment and removed from the address bar

            // The chart grows as the run trains.
            await page.WaitForFunctionAsync("() => Number(document.querySelector('#chart-loss').dataset.points) > 50", null, new() { Timeout = 60_000 });
            int before = int.Parse(await page.GetAttributeAsync("#chart-loss", "data-points") ?? "0", System.Globalization.CultureInfo.InvariantCulture);
            await page.WaitForFunctionAsync($"() => Number(document.querySelector('#chart-loss').dataset.points) > {before + 50}", null, new() { Timeout = 60_000 });

            // The agent's proposal waits in the review queue. A person pauses the run to look, then approves it.
            await page.Locator("article.review[data-status=awaiting_review]").First.WaitForAsync(new() { Timeout = 90_000 });
            await page.ClickAsync("button[data-command=pause]");
            await page.Locator("#state-status", new() { HasTextString = "paused" }).WaitForAsync(new() { Timeout = 30_000 });
            RunHandle run = _host.Services.GetRequiredService<ActiveRun>().Current!;
            Assert.True(run.Run.State.Paused);
            long trained = run.Run.State.TrainedSteps; // paused: the page shows the same figure once it refreshes
            await page.Locator("#state-budget", new() { HasTextString = $"{trained} / {run.Run.Budget.MaxTrainedSteps} trained" })
                .WaitForAsync(new() { Timeout = 30_000 });
            await page.FillAsync("#reviewer", "playwright");
            string proposalId = await ApproveTheWaitingProposal(page);
            // The page shows it applied, and the intervention appears marked as a person's.
            await page.Locator("#interventions li[data-source=human]").First.WaitForAsync(new() { Timeout = 30_000 });

            // And the run did apply it: the review is closed with its command, which succeeded as a human's.
            ReviewItem item = run.Agent!.Reviews.List().Single(r => r.ProposalId == proposalId);
            Assert.Equal((ReviewStatus.Applied, "playwright", "looks right"), (item.Status, item.Reviewer, item.Comment));
            Assert.StartsWith($"applied as {item.CommandId} at step ", item.Outcome, StringComparison.Ordinal);
            CommandEvent applied = _host.Services.GetRequiredService<AgentTrainer.ControlPlane.Live.RunMonitor>().Events("command", 5000)
                .OfType<CommandEvent>().Single(e => e.Id == item.CommandId && e.Status == CommandStatus.Succeeded);
            Assert.Equal(CommandSource.Human, applied.Source);

            // Only the newest proposal waits: older ones were superseded, not left to go stale.
            Assert.DoesNotContain(run.Agent.Reviews.List(), r => r.Status == ReviewStatus.AwaitingReview);

            // What the agent's next idea superseded is still a person's to answer: its card keeps the buttons,
            // and approved it is judged again and applied (here a halving, at the step the run is paused at).
            double lrBefore = run.Run.State.LearningRate;
            string supersededId = AddSupersededHalving(run);
            ILocator supersededCard = page.Locator($"article.review[data-review-id='{supersededId}'][data-status=superseded]");
            await supersededCard.WaitForAsync(new() { Timeout = 30_000 });
            Assert.Contains("can still be approved", await supersededCard.InnerTextAsync());
            await supersededCard.Locator("button.approve").ClickAsync();
            await page.Locator($"article.review[data-review-id='{supersededId}'][data-status=applied]")
                .WaitForAsync(new() { Timeout = 30_000 });
            Assert.Equal(lrBefore / 2, run.Run.State.LearningRate, 12);
            await page.ClickAsync("button[data-command=resume]");
            await page.Locator("#state-status", new() { HasTextString = "running" }).WaitForAsync(new() { Timeout = 30_000 });
            Assert.Empty(errors);
        }
        catch
        {
            await page.ScreenshotAsync(new() { Path = Path.Combine(AppContext.BaseDirectory, "dashboard-failure.png"), FullPage = true });
            throw;
        }
    }

    /// <summary>Approves the proposal waiting for review and waits until the page shows it applied. A
    /// decision that was in flight when the run paused may still land and supersede it (the page then
    /// shows it expired): that newer proposal is the one to approve. Once paused, no further decision
    /// starts, so a second try is the last.</summary>
    private static async Task<string> ApproveTheWaitingProposal(IPage page)
    {
        for (int attempt = 1; ; attempt++)
        {
            ILocator waiting = page.Locator("article.review[data-status=awaiting_review]").First;
            await waiting.WaitForAsync(new() { Timeout = 90_000 });
            string proposalId = (await waiting.GetAttributeAsync("data-review-id"))!;
            // Held by its id: "the first waiting card" is looked up again at each action, and a newer proposal
            // landing meanwhile would take the click.
            ILocator card = page.Locator($"article.review[data-review-id='{proposalId}']");
            Assert.Contains("Sent to review by: approval.required_for", await card.InnerTextAsync());
            await card.Locator("input.comment").FillAsync("looks right");
            await card.Locator("button.approve").ClickAsync();

            ILocator applied = page.Locator($"article.review[data-review-id='{proposalId}'][data-status=applied]");
            ILocator superseded = page.Locator($"article.review[data-review-id='{proposalId}'][data-status=expired]");
            await applied.Or(superseded).WaitForAsync(new() { Timeout = 30_000 });
            if (await applied.IsVisibleAsync())
            {
                return proposalId;
            }
            Assert.True(attempt < 2, $"{proposalId} was superseded although the run was paused before the previous proposal");
        }
    }

    /// <summary>A halving the agent proposed and then superseded with its next idea, put in the run's own
    /// review queue the way <see cref="AgentTrainer.Agents.Supervision.ReviewWorkflow"/> leaves one.</summary>
    private static string AddSupersededHalving(RunHandle run)
    {
        RunState state = run.Run.State;
        var halving = new Proposal
        {
            Id = "superseded-halving", Action = InterventionAction.HalveLearningRate, Source = CommandSource.Agent,
            Reason = "the loss spikes: the lr is too high", BasedOnStep = state.Step, BasedOnBranch = state.Branch,
        };
        ReviewQueue reviews = run.Agent!.Reviews;
        reviews.Add(halving, new GateDecision(Verdict.Review, "approval.required_for", "a person decides"),
            "the summary the agent saw", TimeSpan.FromHours(1));
        Assert.True(reviews.Close(halving.Id, ReviewStatus.AwaitingReview, ReviewStatus.Superseded, null,
            "superseded by a later proposal; it can still be approved while it is valid"));
        return halving.Id;
    }

    public async Task DisposeAsync()
    {
        await _host.StopAsync();
        _host.Dispose();
        TestFolders.Delete(_folder);
    }
}
