namespace AgentTrainer.Core.Records;

/// <summary>Replaces a file in one step: the content goes to a temporary file beside it, which is then
/// renamed over it. A reader never sees half a file, a crash never leaves half a file under the name,
/// and a failed write (a full or read-only disk) leaves no temporary file behind.</summary>
public static class AtomicFile
{
    public const string TemporarySuffix = ".tmp";

    public static void Write(string path, Action<Stream> write, bool flushToDisk = false)
    {
        string temporary = path + TemporarySuffix;
        try
        {
            using (var stream = new FileStream(temporary, FileMode.Create, FileAccess.Write))
            {
                write(stream);
                stream.Flush(flushToDisk);
            }
            File.Move(temporary, path, overwrite: true);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            File.Delete(temporary);
            throw;
        }
    }

    public static void WriteAllText(string path, string text) =>
        Write(path, stream =>
        {
            using var writer = new StreamWriter(stream, leaveOpen: true);
            writer.Write(text);
        });
}
