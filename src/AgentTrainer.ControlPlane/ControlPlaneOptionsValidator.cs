using System.Net;
using Microsoft.Extensions.Options;

namespace AgentTrainer.ControlPlane;

/// <summary>Checks the control plane's settings at start-up; errors name the option and its key.</summary>
public sealed class ControlPlaneOptionsValidator : IValidateOptions<ControlPlaneOptions>
{
    public const int MinimumTokenLength = 16;

    public ValidateOptionsResult Validate(string? name, ControlPlaneOptions options)
    {
        if (!options.Enabled)
        {
            return ValidateOptionsResult.Success;
        }
        var errors = new List<string>();
        string[] urls = options.Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (urls.Length == 0)
        {
            errors.Add("--urls (ControlPlane:Urls) names no address; use --api false to run without the API.");
        }
        bool beyondLoopback = false;
        foreach (string url in urls)
        {
            if (!Uri.TryCreate(url, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("http" or "https") || uri.AbsolutePath != "/")
            {
                errors.Add($"--urls (ControlPlane:Urls): '{url}' is not an address like http://127.0.0.1:7007.");
                continue;
            }
            beyondLoopback |= !IsLoopback(uri);
        }
        if (options.Token is { } token && token.Trim().Length < MinimumTokenLength)
        {
            errors.Add($"ControlPlane:Token must be at least {MinimumTokenLength} characters.");
        }
        if (beyondLoopback && string.IsNullOrWhiteSpace(options.Token))
        {
            errors.Add($"--urls (ControlPlane:Urls) '{options.Urls}' listens beyond loopback: set a bearer token in ControlPlane:Token "
                + "(or AGENTTRAINER_ControlPlane__Token) first; the generated token is for loopback only.");
        }
        foreach (string origin in options.AllowedOrigins)
        {
            if (!Uri.TryCreate(origin, UriKind.Absolute, out Uri? uri) || uri.Scheme is not ("http" or "https") || uri.PathAndQuery != "/" || origin.EndsWith('/'))
            {
                errors.Add($"ControlPlane:AllowedOrigins: '{origin}' is not an origin like https://example.org:8443.");
            }
        }
        foreach (string host in options.AllowedHosts)
        {
            if (string.IsNullOrWhiteSpace(host) || host.Contains('/', StringComparison.Ordinal) || host.Contains(' ', StringComparison.Ordinal))
            {
                errors.Add($"ControlPlane:AllowedHosts: '{host}' is not a host name like trainer.example.org, 192.168.1.5 or *.example.org.");
            }
        }
        if (options.MaxRequestBodyBytes is < 1024 or > 16 * 1024 * 1024)
        {
            errors.Add($"ControlPlane:MaxRequestBodyBytes must be between 1024 and 16777216; got {options.MaxRequestBodyBytes}.");
        }
        if (options.StreamClientBuffer is < 16 or > 1_000_000)
        {
            errors.Add($"ControlPlane:StreamClientBuffer must be between 16 and 1000000; got {options.StreamClientBuffer}.");
        }
        if (options.StreamFlushMilliseconds is < 0 or > 10_000)
        {
            errors.Add($"ControlPlane:StreamFlushMilliseconds must be between 0 and 10000; got {options.StreamFlushMilliseconds}.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }

    public static bool IsLoopback(Uri uri) =>
        uri.IsLoopback || (IPAddress.TryParse(uri.Host.Trim('[', ']'), out IPAddress? address) && IPAddress.IsLoopback(address));
}
