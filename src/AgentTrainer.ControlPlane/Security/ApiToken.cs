using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace AgentTrainer.ControlPlane.Security;

/// <summary>The bearer token every mutating request must carry: from configuration, or generated at
/// first start (shown once on the console) and kept in a file only its owner can read.</summary>
public sealed class ApiToken
{
    private const UnixFileMode OwnerOnly = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private readonly byte[] _expected;

    public ApiToken(IOptions<ControlPlaneOptions> options, ILogger<ApiToken> logger)
    {
        ControlPlaneOptions settings = options.Value;
        if (!string.IsNullOrWhiteSpace(settings.Token))
        {
            Value = settings.Token.Trim();
            Origin = "configuration (ControlPlane:Token)";
        }
        else
        {
            string file = settings.ResolvedTokenFile();
            (Value, bool created) = ReadOrCreate(file);
            Origin = file;
            if (created)
            {
                // Shown once, on the console only: never through the logging pipeline.
                Console.Error.WriteLine($"API token (generated now, shown once; kept owner-only in {file}):{Environment.NewLine}  {Value}");
                logger.LogInformation("Generated the API token and stored it owner-only in {File}", file);
            }
        }
        _expected = Encoding.UTF8.GetBytes(Value);
    }

    /// <summary>The token itself (never logged, never returned by the API).</summary>
    public string Value { get; }

    /// <summary>Where the token came from (a file path or the configuration key), for messages.</summary>
    public string Origin { get; }

    /// <summary>Constant-time comparison, so response timing does not leak the token.</summary>
    public bool Matches(string? candidate) =>
        candidate is not null && CryptographicOperations.FixedTimeEquals(Encoding.UTF8.GetBytes(candidate), _expected);

    /// <summary>Reads the stored token (refusing a file others can read) or creates one.</summary>
    public static (string Token, bool Created) ReadOrCreate(string file)
    {
        if (File.Exists(file))
        {
            return (Read(file), false);
        }
        var create = new FileStreamOptions { Mode = FileMode.CreateNew, Access = FileAccess.Write };
        if (OperatingSystem.IsWindows())
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!); // the profile folder is the user's own
        }
        else
        {
            Directory.CreateDirectory(Path.GetDirectoryName(file)!, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            create.UnixCreateMode = OwnerOnly;
        }
        string token = Base64Url(RandomNumberGenerator.GetBytes(32));
        try
        {
            using var stream = new FileStream(file, create);
            stream.Write(Encoding.UTF8.GetBytes(token + "\n"));
        }
        catch (IOException) when (File.Exists(file))
        {
            return (Read(file), false); // another process created it first: use theirs
        }
        return (token, true);
    }

    /// <summary>The stored token, for clients (the CLI) on the same machine.</summary>
    public static string Read(string file)
    {
        if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(file) & ~(OwnerOnly | UnixFileMode.UserExecute)) != 0)
        {
            throw new InvalidOperationException(
                $"The API token file {file} can be read by others ({Convert.ToString((int)File.GetUnixFileMode(file), 8)}); run: chmod 600 {file}");
        }
        string token = File.ReadAllText(file).Trim();
        if (token.Length < ControlPlaneOptionsValidator.MinimumTokenLength)
        {
            throw new InvalidOperationException($"The API token file {file} holds no valid token; delete it to have a new one generated.");
        }
        return token;
    }

    public static string Base64Url(byte[] bytes) => Convert.ToBase64String(bytes).TrimEnd('=').Replace('+', '-').Replace('/', '_');
}
