using AgentTrainer.Core.Naming;

namespace AgentTrainer.Core.Tests;

public class NamesTests
{
    [Theory]
    [InlineData(NameKind.Run, "night-1")]
    [InlineData(NameKind.Checkpoint, "ckpt-000300-b0")]
    [InlineData(NameKind.Person, "Zoë Müller")]
    [InlineData(NameKind.Label, "the whole held-out set")]
    [InlineData(NameKind.Scenario, "lr-spike-fashion-001")]
    public void A_good_name_passes_and_the_same_name_with_a_final_newline_does_not(NameKind kind, string name)
    {
        Assert.True(Names.IsValid(kind, name));
        // .NET's $ matches before a final newline; the patterns end in \z.
        Assert.Contains("\\u000a", Names.Problem(kind, name + "\n"));
    }

    [Theory]
    [InlineData(NameKind.Run, "../escape")]
    [InlineData(NameKind.Run, "")]
    [InlineData(NameKind.Checkpoint, "ckpt 1")]
    [InlineData(NameKind.Person, " alice")]
    [InlineData(NameKind.Person, "ali\u202Eecila")] // a right-to-left override: one name showing as another
    [InlineData(NameKind.Label, "val\u0007")]
    [InlineData(NameKind.Scenario, "Fashion")]
    public void A_bad_name_is_refused_with_a_reason_quoting_it_safely(NameKind kind, string name)
    {
        string? problem = Names.Problem(kind, name);
        Assert.NotNull(problem);
        Assert.DoesNotContain(problem, char.IsControl);
        Assert.DoesNotContain('\u202E', problem);
    }

    [Theory]
    [InlineData("operator")]
    [InlineData("Anonymous")]
    public void The_host_tokens_holder_and_nobody_are_no_persons_names(string name) =>
        Assert.Contains("is reserved", Names.Problem(NameKind.Person, name));
}
