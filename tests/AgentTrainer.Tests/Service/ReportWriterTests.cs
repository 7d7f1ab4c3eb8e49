using AgentTrainer.Core.Records;
using AgentTrainer.Service.Inbox;
using AgentTrainer.Service.Reports;
using Xunit;

namespace AgentTrainer.Tests.Service;

/// <summary>The morning report's Markdown holds words from outside (a trainer's message, a person's name, an agent's
/// reason): whatever they are, they stay words, with no heading, row, link or HTML of their own.</summary>
public sealed class ReportWriterTests
{
    private const string Forgery = "<img src=x onerror=alert(1)>\n## All runs fine\n| forged | row | 1 | 2 | 3 | 4 | 5 | 6 |";

    [Fact]
    public void Names_reasons_and_messages_cannot_forge_a_heading_a_table_row_or_html()
    {
        DateTimeOffset now = DateTimeOffset.UnixEpoch;
        var run = new RunReport("night-1", "built_in", "failed", now, now, Forgery, 300, 2.3, 2.1, 2.0, 200,
            [new InterventionReport(150, "halve_learning_rate", "agent", Forgery, "approval.required_for", "bob\n## Approved by alice",
                2.2, 2.1)],
            [new InboxItem("night-1", "p-2", now, now, 250, "rollback_checkpoint", Forgery, "r", "s", "awaiting_review", null, null,
                null)],
            [], [new ReviewEvent { Time = now, Step = 280, Branch = 0, ProposalId = "p-1", Status = "expired", Outcome = Forgery }],
            new HandedBackModel("ckpt-000200-b0", 200, 2.0, "val *bold* [link](http://x)"));
        string markdown = ReportWriter.Markdown(new ReportModel(now, now, [run], 1), chartsRelative: true);
        string[] lines = markdown.Split('\n');

        Assert.DoesNotContain("<img", markdown, StringComparison.Ordinal);
        Assert.DoesNotContain(lines, line => line.StartsWith("## All runs fine", StringComparison.Ordinal));
        Assert.DoesNotContain(lines, line => line.StartsWith("## Approved by", StringComparison.Ordinal));
        Assert.Equal(["## night-1 — failed"], lines.Where(line => line.StartsWith('#') && !line.StartsWith("# ", StringComparison.Ordinal)));
        Assert.Equal(3, lines.Count(line => line.StartsWith('|'))); // the header, its rule, one run
        Assert.Contains(@"Hands back val\_loss 2.0000 on val \*bold\* \[link\](http://x), model ckpt-000200-b0 (step 200).", markdown,
            StringComparison.Ordinal);
        Assert.Contains(@"&lt;img src=x onerror=alert(1)&gt; \#\# All runs fine", markdown, StringComparison.Ordinal);
    }
}
