using System.Globalization;

namespace AgentTrainer.Core.Options;

/// <summary>Reads a settings file a user named (a --config JSON file, a policy): a folder, a missing file,
/// an unreadable one or one larger than <see cref="MaxBytes"/> is refused with a message naming it. The
/// read is bounded, so a device such as /dev/zero is cut off rather than read until memory runs out.</summary>
public static class SettingsFile
{
    public const int MaxBytes = 1 << 20;

    /// <exception cref="InvalidDataException">the file cannot be used; the message says why, after "PATH: "</exception>
    public static byte[] Read(string path)
    {
        if (Directory.Exists(path))
        {
            throw new InvalidDataException($"{path}: is a folder, not a settings file.");
        }
        if (!File.Exists(path))
        {
            throw new InvalidDataException($"{path} does not exist.");
        }
        byte[] content = new byte[MaxBytes + 1];
        int length;
        try
        {
            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            length = stream.ReadAtLeast(content, content.Length, throwOnEndOfStream: false);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException)
        {
            throw new InvalidDataException($"{path}: cannot be read: {error.Message}");
        }
        if (length > MaxBytes)
        {
            throw new InvalidDataException(string.Create(CultureInfo.InvariantCulture,
                $"{path}: is larger than a settings file may be ({MaxBytes:N0} bytes); is it the file you meant?"));
        }
        return content[..length];
    }
}
