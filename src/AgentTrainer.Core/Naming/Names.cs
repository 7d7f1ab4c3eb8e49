using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace AgentTrainer.Core.Naming;

/// <summary>What a name names. Each kind has one rule, and every entry point (the service's submissions, the
/// trainer protocol, tokens, eval files) checks it through <see cref="Names"/>.</summary>
public enum NameKind
{
    /// <summary>A run: a folder name, a URL segment and a store key.</summary>
    Run,

    /// <summary>A checkpoint a trainer reports: a file name on its side, a key here.</summary>
    Checkpoint,

    /// <summary>A person a token belongs to: what the audit, the inbox and the report say decided.</summary>
    Person,

    /// <summary>Free words that end up in a log line or a page (the split a loss was measured on).</summary>
    Label,

    /// <summary>An eval scenario or family: folders, plots and table rows.</summary>
    Scenario,
}

/// <summary>The one check of every name a user or a trainer gives. The patterns end in <c>\z</c>: .NET's <c>$</c>
/// also matches before a final newline, so <c>"night-1\n"</c> would pass as a second, identical-looking name.</summary>
public static partial class Names
{
    /// <summary>Who the host's own token is: it names no person.</summary>
    public const string HostTokenPerson = "operator";

    /// <summary>Who the pages and the audit say when nobody signed in.</summary>
    public const string NobodySignedIn = "anonymous";

    /// <summary>Names no person may take: a person so named could not be told apart from these in the audit.</summary>
    public static readonly IReadOnlySet<string> ReservedPeople =
        new HashSet<string>([HostTokenPerson, NobodySignedIn], StringComparer.OrdinalIgnoreCase);

    public const int MaxPersonLength = 100;

    /// <summary>What is wrong with <paramref name="value"/> as a name of this kind, in words that quote it
    /// safely (control characters escaped); null when it is a valid name.</summary>
    public static string? Problem(NameKind kind, string? value)
    {
        // Quoted only for a refusal: a valid name (every checkpoint a trainer reports) costs no copy.
        string Shown() => Quote(value ?? "");
        return kind switch
        {
            NameKind.Run when !RunPattern().IsMatch(value ?? "") =>
                $"name {Shown()} must be 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit.",
            NameKind.Checkpoint when !CheckpointPattern().IsMatch(value ?? "") =>
                $"checkpoint id {Shown()} must be 1 to 100 letters, digits, '.', '_' or '-'.",
            NameKind.Person when !LabelPattern().IsMatch(value ?? "") || value!.Trim() != value
                || value.Length > MaxPersonLength =>
                $"a person's name has 1 to {MaxPersonLength} printable characters, with no space at either end; "
                + $"got {Shown()}.",
            NameKind.Person when ReservedPeople.Contains(value!) =>
                $"{Shown()} is reserved (it is who the host's own token, or nobody signed in, is shown as); "
                + "choose another name.",
            NameKind.Label when !LabelPattern().IsMatch(value ?? "") || value!.Length > 100 =>
                $"{Shown()} must be 1 to 100 printable characters.",
            NameKind.Scenario when !ScenarioPattern().IsMatch(value ?? "") =>
                $"{Shown()} must be lowercase letters, digits and dashes, starting with a letter or digit.",
            _ => null,
        };
    }

    public static bool IsValid(NameKind kind, string? value) => Problem(kind, value) is null;

    /// <summary>A name as an error message may show it: in quotes, control characters as escapes.</summary>
    public static string Quote(string value)
    {
        var text = new StringBuilder("'");
        foreach (char c in value.Length > 120 ? value[..120] + "..." : value)
        {
            bool hidden = char.IsControl(c) || char.GetUnicodeCategory(c) == UnicodeCategory.Format;
            text.Append(hidden ? $"\\u{(int)c:x4}" : c.ToString());
        }
        return text.Append('\'').ToString();
    }

    [GeneratedRegex(@"\A[A-Za-z0-9][A-Za-z0-9._-]{0,63}\z")]
    private static partial Regex RunPattern();

    [GeneratedRegex(@"\A[A-Za-z0-9._-]{1,100}\z")]
    private static partial Regex CheckpointPattern();

    [GeneratedRegex(@"\A[^\p{C}]+\z")]
    private static partial Regex LabelPattern();

    [GeneratedRegex(@"\A[a-z0-9][a-z0-9-]*\z")]
    private static partial Regex ScenarioPattern();
}
