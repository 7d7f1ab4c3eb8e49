using AgentTrainer.Agents.Storage;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Policies;
using AgentTrainer.Core.Records;
using Microsoft.Playwright;
using Xunit;

namespace AgentTrainer.Tests.Service;

/// <summary>The service's pages in a real browser (Debian's Chromium driven by Playwright) against a real
/// <c>agent-trainer serve</c>: the run list, the inbox (a viewer's click refused, a reviewer's approval recorded
/// under their name in the run's own queue), and the morning report with its chart.</summary>
public sealed class ServicePagesBrowserTests : IDisposable
{
    private const string Chromium = "/usr/bin/chromium";
    private static readonly string[] ChromiumFlags =
        ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync"];

    private readonly string _folder = TestFolders.Create("service-pages");

    private string Root => Path.Combine(_folder, "runs");

    public void Dispose() => TestFolders.Delete(_folder);

    [Fact]
    public async Task The_run_list_inbox_and_report_pages_show_the_runs_and_a_reviewer_approves_from_the_inbox()
    {
        Assert.True(File.Exists(Chromium), "Debian's chromium is installed by scripts/install-deps.sh");
        // A finished run of someone's under the runs root, with a proposal still waiting for a person.
        string run = Path.Combine(Root, "night-1");
        (int exit, _, string error) = await AgentTrainerProcess.RunAsync(
            ["run", "--task", "synthetic", "--steps", "200", "--threads", "1", "--api", "false", "--agent", "rules", "--out", run]);
        Assert.True(exit == 0, error);
        var queue = new ReviewQueue(Path.Combine(run, AgentDatabase.FileName), TimeProvider.System);
        queue.Add(new Proposal
        {
            Id = "page-proposal", Action = InterventionAction.HalveLearningRate, Reason = "the loss is noisy", Source = CommandSource.Agent,
            BasedOnStep = 200, BasedOnBranch = 0,
        }, new GateDecision(Verdict.Review, "approval.required_for", "a person decides"), "the summary the agent saw", TimeSpan.FromHours(1));
        // And an earlier one the agent's next idea superseded: still a person's to answer.
        queue.Add(new Proposal
        {
            Id = "superseded-proposal", Action = InterventionAction.DoubleLearningRate, Reason = "the loss falls slowly",
            Source = CommandSource.Agent, BasedOnStep = 150, BasedOnBranch = 0,
        }, new GateDecision(Verdict.Review, "approval.required_for", "a person decides"), "the summary the agent saw", TimeSpan.FromHours(1));
        Assert.True(queue.Close("superseded-proposal", ReviewStatus.AwaitingReview, ReviewStatus.Superseded, null,
            "superseded by page-proposal; it can still be approved while it is valid"));
        ReviewItem Item(string id) => queue.List().Single(i => i.ProposalId == id);
        string alice = await TokenAsync("alice", "reviewer");
        string victor = await TokenAsync("victor", "viewer");

        using var service = new AgentTrainerProcess(["serve", "--root", Root, "--urls", "http://127.0.0.1:0"]);
        Uri address = await service.ApiAddressAsync();
        using IPlaywright playwright = await Playwright.CreateAsync();
        await using IBrowser browser = await playwright.Chromium.LaunchAsync(new() { ExecutablePath = Chromium, Headless = true, Args = ChromiumFlags });
        IPage page = await browser.NewPageAsync();
        var errors = new List<string>();
        page.PageError += (_, failure) => errors.Add(failure);

        // The run list.
        await page.GotoAsync(new Uri(address, "/service/index.html").ToString());
        ILocator row = page.Locator("#runs tr[data-run=night-1]");
        await row.WaitForAsync(new() { Timeout = 30_000 });
        Assert.Equal("completed", await row.GetAttributeAsync("data-state"));
        // The model handed back, in run.json's words.
        string handedBack = RunRecordReader.ReadSummary(run)!.Final!.HandedBack!.Description;
        Assert.Equal(handedBack, await row.Locator("td.handed-back").TextContentAsync());

        // The inbox: a viewer may look but not decide.
        await page.GotoAsync(new Uri(address, "/service/inbox.html").ToString());
        await SignInAsync(page, victor);
        Assert.Equal("victor (viewer)", await page.Locator("#me").TextContentAsync());
        ILocator card = page.Locator("article.item[data-proposal=page-proposal]");
        await card.Locator("button.approve").ClickAsync();
        await Assertions.Expect(card.Locator(".result")).ToContainTextAsync("has the role viewer, which may not do this");
        Assert.Equal(ReviewStatus.AwaitingReview, Item("page-proposal").Status);

        // A reviewer approves, as herself.
        await SignInAsync(page, alice);
        card = page.Locator("article.item[data-proposal=page-proposal]");
        await card.Locator("textarea").FillAsync("looked at the curve");
        await card.Locator("button.approve").ClickAsync();
        await Assertions.Expect(card.Locator(".result")).ToHaveTextAsync("approved by alice");
        ReviewItem decided = Item("page-proposal");
        Assert.Equal((ReviewStatus.Approved, "alice", "looked at the curve"), (decided.Status, decided.Reviewer, decided.Comment));
        await page.Locator("article.item[data-status=approved][data-proposal=page-proposal]").WaitForAsync(new() { Timeout = 10_000 });
        // The superseded one keeps its buttons and says why it was superseded; approved, it is approved.
        ILocator superseded = page.Locator("article.item[data-status=superseded][data-proposal=superseded-proposal]");
        await Assertions.Expect(superseded.Locator(".meta")).ToContainTextAsync("it can still be approved while it is valid");
        await superseded.Locator("button.approve").ClickAsync();
        await page.Locator("article.item[data-status=approved][data-proposal=superseded-proposal]").WaitForAsync(new() { Timeout = 10_000 });
        Assert.Equal((ReviewStatus.Approved, "alice"), (Item("superseded-proposal").Status, Item("superseded-proposal").Reviewer));

        // The report lists the run, with its chart.
        await page.GotoAsync(new Uri(address, "/service/report.html?since=2000-01-01T00:00:00Z").ToString());
        await page.Locator("#report-runs tr[data-run=night-1]").WaitForAsync(new() { Timeout = 10_000 });
        Assert.Contains("1 runs", await page.Locator("#totals").TextContentAsync());
        Assert.Equal($"Hands back {handedBack}.",
            await page.Locator("section.report-run[data-run=night-1] p.handed-back").TextContentAsync());
        await page.WaitForFunctionAsync("() => { const img = document.querySelector('section.report-run[data-run=night-1] img'); "
            + "return img && img.complete && img.naturalWidth > 0; }");
        Assert.Empty(errors);
    }

    private static async Task SignInAsync(IPage page, string token)
    {
        await page.Locator("#token-form input").FillAsync(token);
        await page.Locator("#token-form button").ClickAsync();
        await page.WaitForLoadStateAsync(LoadState.NetworkIdle);
        await page.Locator("article.item[data-proposal=page-proposal]").WaitForAsync(new() { Timeout = 10_000 });
    }

    private async Task<string> TokenAsync(string name, string role)
    {
        (int exit, string output, string error) = await AgentTrainerProcess.RunAsync(["token", "create", name, "--role", role, "--root", Root]);
        Assert.True(exit == 0, error);
        return output.Trim().Split('\n')[^1].Trim();
    }
}
