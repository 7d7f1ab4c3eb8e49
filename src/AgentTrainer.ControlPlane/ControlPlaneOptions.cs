namespace AgentTrainer.ControlPlane;

/// <summary>The control plane's settings (section ControlPlane): where the API listens, its token,
/// which browser origins may call it, and how much a request or a slow stream client may take.</summary>
public sealed class ControlPlaneOptions
{
    public const string Section = "ControlPlane";
    public const string DefaultUrls = "http://127.0.0.1:7007";
    private static readonly string[] LoopbackHosts = ["localhost", "127.0.0.1", "[::1]"];

    /// <summary>Serve the API and dashboard beside the run (off: a plain batch run).</summary>
    public bool Enabled { get; set; } = true;

    /// <summary>Addresses to listen on, separated by ';' (port 0: any free port).</summary>
    public string Urls { get; set; } = DefaultUrls;

    /// <summary>The bearer token. When unset, one is generated at first start and kept in <see cref="TokenFile"/>.
    /// Listening beyond loopback requires it to be set.</summary>
    public string? Token { get; set; }

    /// <summary>Where the generated token is kept (owner-only); empty: $XDG_CONFIG_HOME/agent-trainer/api-token.</summary>
    public string TokenFile { get; set; } = "";

    /// <summary>Browser origins (scheme://host:port) allowed to call the API; none by default.</summary>
    public IReadOnlyList<string> AllowedOrigins { get; set; } = [];

    /// <summary>Host names the API answers to (the Host header; "*.example.org" patterns allowed). Empty: the
    /// loopback names and the hosts named in <see cref="Urls"/>. A page on another name that resolves to this
    /// machine (DNS rebinding) is refused.</summary>
    public IReadOnlyList<string> AllowedHosts { get; set; } = [];

    public int MaxRequestBodyBytes { get; set; } = 64 * 1024;

    /// <summary>How long the stream gathers messages before writing them to a client (its latency).</summary>
    public int StreamFlushMilliseconds { get; set; } = 1000;

    /// <summary>Messages queued for one stream client; a client this far behind is dropped.</summary>
    public int StreamClientBuffer { get; set; } = 1024;

    /// <summary>The addresses that parse (the validator reports those that do not).</summary>
    public IReadOnlyList<Uri> ParsedUrls() =>
        [.. Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .Select(url => Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) ? uri : null).OfType<Uri>()];

    /// <summary>The Host header values answered: <see cref="AllowedHosts"/>, or by default the loopback
    /// names and every host named in <see cref="Urls"/> other than a wildcard address.</summary>
    public IReadOnlyList<string> EffectiveAllowedHosts() => AllowedHosts.Count > 0
        ? AllowedHosts
        : [.. LoopbackHosts
            .Concat(ParsedUrls().Select(uri => uri.Host).Where(host => host is not ("0.0.0.0" or "[::]" or "*" or "+")))
            .Distinct(StringComparer.OrdinalIgnoreCase)];

    /// <summary>The token file, with the default resolved.</summary>
    public string ResolvedTokenFile()
    {
        if (!string.IsNullOrWhiteSpace(TokenFile))
        {
            return Path.GetFullPath(TokenFile);
        }
        string? config = Environment.GetEnvironmentVariable("XDG_CONFIG_HOME");
        if (string.IsNullOrEmpty(config))
        {
            config = Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".config");
        }
        return Path.Combine(config, "agent-trainer", "api-token");
    }
}
