using System.Text;

namespace AgentTrainer.Training.Data;

/// <summary>A character-level corpus: text from one file, or every text file of a folder (sorted by
/// name, so the corpus is the same on every machine), split 90/10 into training and validation.</summary>
public sealed class TextCorpus
{
    public const string InstallHint =
        "Install Debian's corpus with `sudo apt-get install fortunes`, or point --text (Training:Data:TextPath) at a UTF-8 text file or a folder of them.";

    private readonly Dictionary<char, int> _index;

    private TextCorpus(string text, string source)
    {
        Source = source;
        Vocabulary = [.. text.Distinct().Order()];
        _index = new Dictionary<char, int>(Vocabulary.Count);
        for (int i = 0; i < Vocabulary.Count; i++)
        {
            _index[Vocabulary[i]] = i;
        }
        (Train, Validation, Sha256) = Split(text);
    }

    public string Source { get; }
    public IReadOnlyList<char> Vocabulary { get; }
    public long[] Train { get; }
    public long[] Validation { get; }

    /// <summary>The SHA-256 of the corpus's text, as read (what a data mixture pins).</summary>
    public string Sha256 { get; }

    /// <summary>Another text (a source added to the mixture, a held-out set of its own) in this corpus's vocabulary,
    /// split 90/10 the same way. A character the vocabulary lacks reads as a space (or, without one, as the first
    /// character): the model's vocabulary is fixed when the run starts.</summary>
    /// <exception cref="DataSetException">the path is missing, not text, or too short</exception>
    public (long[] Train, long[] Validation, string Sha256) Encode(string path, int contextLength) =>
        Split(ReadCorpusText(path, contextLength));

    private (long[] Train, long[] Validation, string Sha256) Split(string text)
    {
        int fallback = _index.TryGetValue(' ', out int space) ? space : 0;
        long[] tokens = [.. text.Select(character => (long)_index.GetValueOrDefault(character, fallback))];
        int split = (int)(tokens.Length * 0.9);
        string hash = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(Encoding.UTF8.GetBytes(text)));
        return (tokens[..split], tokens[split..], hash);
    }

    public static TextCorpus Load(string path, int contextLength) =>
        new(ReadCorpusText(path, contextLength), path);

    private static string ReadCorpusText(string path, int contextLength)
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
        return text;
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
