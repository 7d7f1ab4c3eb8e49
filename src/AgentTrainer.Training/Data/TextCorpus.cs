using System.Text;

namespace AgentTrainer.Training.Data;

/// <summary>A character-level corpus: text from one file, or every text file of a folder (sorted by
/// name, so the corpus is the same on every machine), split 90/10 into training and validation.</summary>
public sealed class TextCorpus
{
    public const string InstallHint =
        "Install Debian's corpus with `sudo apt-get install fortunes`, or point --text (Training:Data:TextPath) at a UTF-8 text file or a folder of them.";

    private TextCorpus(string text, string source)
    {
        Source = source;
        Vocabulary = [.. text.Distinct().Order()];
        var index = new Dictionary<char, int>(Vocabulary.Count);
        for (int i = 0; i < Vocabulary.Count; i++)
        {
            index[Vocabulary[i]] = i;
        }
        long[] tokens = text.Select(character => (long)index[character]).ToArray();
        int split = (int)(tokens.Length * 0.9);
        Train = tokens[..split];
        Validation = tokens[split..];
    }

    public string Source { get; }
    public IReadOnlyList<char> Vocabulary { get; }
    public long[] Train { get; }
    public long[] Validation { get; }

    public static TextCorpus Load(string path, int contextLength)
    {
        string text;
        if (Directory.Exists(path))
        {
            string[] files = Directory.EnumerateFiles(path)
                .Where(file => !file.EndsWith(".dat", StringComparison.Ordinal) && new FileInfo(file).LinkTarget is null)
                .Order(StringComparer.Ordinal)
                .ToArray();
            var builder = new StringBuilder();
            foreach (string file in files)
            {
                if (ReadText(file, strict: false) is { } content)
                {
                    builder.Append(content).Append('\n');
                }
            }
            text = builder.ToString();
        }
        else if (File.Exists(path))
        {
            text = ReadText(path, strict: true)!;
        }
        else
        {
            throw new DataSetException($"The text corpus was not found: {path} does not exist. {InstallHint}");
        }

        // fortune files separate their entries with lines holding a single '%'.
        text = text.Replace("\n%\n", "\n\n", StringComparison.Ordinal);
        int needed = 20 * (contextLength + 1);
        if (text.Length < needed)
        {
            throw new DataSetException($"The text corpus at {path} holds {text.Length} characters; char-lm with context {contextLength} needs at least {needed}.");
        }
        return new TextCorpus(text, path);
    }

    /// <summary>The file's text, or (in a folder) null for a file that is not text.</summary>
    private static string? ReadText(string file, bool strict)
    {
        byte[] bytes = File.ReadAllBytes(file);
        if (Array.IndexOf(bytes, (byte)0) >= 0)
        {
            return strict ? throw new DataSetException($"{file} is not a text file (it holds NUL bytes).") : null;
        }
        try
        {
            return new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(bytes);
        }
        catch (DecoderFallbackException)
        {
            return strict ? throw new DataSetException($"{file} is not valid UTF-8 text.") : null;
        }
    }
}
