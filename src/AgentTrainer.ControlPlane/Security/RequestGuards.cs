using AgentTrainer.ControlPlane.Api;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;
using Microsoft.Extensions.Options;

namespace AgentTrainer.ControlPlane.Security;

/// <summary>Refuses, before any endpoint runs, a browser request from another origin (unless configured).
/// Runs before authentication: a cross-origin page is refused whatever it carries.</summary>
public sealed class OriginGuard(RequestDelegate next, IOptions<ControlPlaneOptions> options)
{
    private readonly HashSet<string> _allowedOrigins = new(options.Value.AllowedOrigins, StringComparer.OrdinalIgnoreCase);

    public async Task InvokeAsync(HttpContext context)
    {
        string? origin = context.Request.Headers.Origin;
        if (!string.IsNullOrEmpty(origin) && !IsSameOrigin(context.Request, origin) && !_allowedOrigins.Contains(origin))
        {
            await ApiProblems.Write(context, StatusCodes.Status403Forbidden, "Cross-origin request refused",
                $"Requests from {origin} are refused; list the origin in ControlPlane:AllowedOrigins to allow it.").ConfigureAwait(false);
            return;
        }
        await next(context).ConfigureAwait(false);
    }

    private static bool IsSameOrigin(HttpRequest request, string origin) =>
        string.Equals(origin, $"{request.Scheme}://{request.Host.Value}", StringComparison.OrdinalIgnoreCase);
}

/// <summary>Refuses a body over the size limit. Runs after authorization, so a caller without the token
/// learns only that it needs one (401), never how large a body it may send.</summary>
public sealed class BodyLimitGuard(RequestDelegate next, IOptions<ControlPlaneOptions> options)
{
    private readonly long _maxBody = options.Value.MaxRequestBodyBytes;

    public async Task InvokeAsync(HttpContext context)
    {
        if (context.Request.ContentLength > _maxBody)
        {
            await ApiProblems.Write(context, StatusCodes.Status413PayloadTooLarge, "Request body too large",
                $"The body has {context.Request.ContentLength} bytes; the limit is {_maxBody} (ControlPlane:MaxRequestBodyBytes).").ConfigureAwait(false);
            return;
        }
        // A body without a declared length is cut off by the server at the same limit.
        if (context.Features.Get<IHttpMaxRequestBodySizeFeature>() is { IsReadOnly: false } limit)
        {
            limit.MaxRequestBodySize = _maxBody;
        }
        await next(context).ConfigureAwait(false);
    }
}
