using System.Text;

namespace AgentTrainer.Core.Text;

/// <summary>The one writer of outside text into Markdown (the morning report, eval reports): run and person
/// names, reasons an agent gave, messages a trainer sent. Whatever they hold, they stay words on one line: no
/// heading, table row, link or list of their own, and no HTML a viewer would run.</summary>
public static class MarkdownText
{
    // Characters that make markup within a line: escapes, code, emphasis, links and images, headings.
    private const string Markup = "\\`*_[]#";

    /// <summary>Text for a paragraph or a list item: one line, its markup characters shown as written.</summary>
    public static string Line(string? value)
    {
        var text = new StringBuilder();
        foreach (char c in value ?? "")
        {
            if (c is '\r' or '\n' || char.IsControl(c))
            {
                text.Append(' '); // a line break would start a block of its own: a forged heading or table row
            }
            else if (c is '<' or '>' or '&')
            {
                text.Append(c switch { '<' => "&lt;", '>' => "&gt;", _ => "&amp;" });
            }
            else
            {
                text.Append(Markup.Contains(c) ? "\\" + c : c.ToString());
            }
        }
        // At the start of a line, these begin a list, a quote or a rule.
        return text.Length > 0 && text[0] is '-' or '+' or '=' ? "\\" + text : text.ToString();
    }

    /// <summary>Text for a table cell: as <see cref="Line"/>, and a '|' does not end the cell.</summary>
    public static string Cell(string? value) => Line(value).Replace("|", "\\|", StringComparison.Ordinal);
}
