using System.Security.Claims;
using System.Text.Encodings.Web;
using Microsoft.AspNetCore.Authentication;
using Microsoft.AspNetCore.Http;
using AgentTrainer.ControlPlane.Api;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using AgentTrainer.ControlPlane.Remote;
using AgentTrainer.Core.Naming;

namespace AgentTrainer.ControlPlane.Security;

/// <summary>Authenticates <c>Authorization: Bearer TOKEN</c>: the host's <see cref="ApiToken"/> (every role), a
/// person's token where the host has a <see cref="IPersonDirectory"/> (their name and role), or a run token a
/// trainer got at registration (role trainer, scoped to its run by the run claim).</summary>
public sealed class BearerTokenHandler(
    IOptionsMonitor<AuthenticationSchemeOptions> options, ILoggerFactory logger, UrlEncoder encoder, ApiToken token,
    RemoteRuns runs, IEnumerable<IPersonDirectory> people)
    : AuthenticationHandler<AuthenticationSchemeOptions>(options, logger, encoder)
{
    public const string SchemeName = "Bearer";
    public const string OperatorRole = "operator";
    public const string TrainerRole = "trainer";

    /// <summary>A person's own role (the role claims hold it and every lesser one).</summary>
    public const string PersonRoleClaim = "person_role";

    /// <summary>The run a trainer's token is scoped to.</summary>
    public const string RunClaim = "run";

    /// <summary>The bearer token of a request, or null when it carries none.</summary>
    public static string? TokenOf(HttpRequest request)
    {
        string? header = request.Headers.Authorization;
        return header is not null && header.StartsWith("Bearer ", StringComparison.OrdinalIgnoreCase)
            ? header["Bearer ".Length..].Trim()
            : null;
    }

    protected override Task<AuthenticateResult> HandleAuthenticateAsync()
    {
        if (string.IsNullOrEmpty(Request.Headers.Authorization))
        {
            return Task.FromResult(AuthenticateResult.NoResult());
        }
        string? candidate = TokenOf(Request);
        Claim[]? claims = candidate is null ? null
            : token.Matches(candidate) ? Claims(new Person(Names.HostTokenPerson, PersonRole.Admin))
            : people.Select(directory => directory.Authenticate(candidate)).FirstOrDefault(person => person is not null)
                is { } person ? Claims(person)
            : runs.RunOf(candidate) is { } run
                ? [new(ClaimTypes.Name, $"trainer of {run}"), new(ClaimTypes.Role, TrainerRole), new(RunClaim, run)]
                : null;
        if (claims is null)
        {
            return Task.FromResult(AuthenticateResult.Fail("The bearer token is not valid."));
        }
        var identity = new ClaimsIdentity(claims, SchemeName);
        var ticket = new AuthenticationTicket(new ClaimsPrincipal(identity), SchemeName);
        return Task.FromResult(AuthenticateResult.Success(ticket));
    }

    private static Claim[] Claims(Person person) =>
        [new(ClaimTypes.Name, person.Name), new(PersonRoleClaim, PersonRoles.Name(person.Role)), .. PersonRoles.Granted(person.Role).Select(role => new Claim(ClaimTypes.Role, role))];

    protected override Task HandleForbiddenAsync(AuthenticationProperties properties) =>
        ApiProblems.Write(Context, StatusCodes.Status403Forbidden, "Not allowed with this token",
            Context.User.IsInRole(TrainerRole)
                ? "A run token reads and writes its own run over the trainer protocol (/api/v1/runs/ID) and nothing else; "
                    + "this takes the host's API token."
                : $"{Context.User.Identity?.Name}'s token has the role {Context.User.FindFirst(PersonRoleClaim)?.Value}"
                    + ", which may not do this (roles, each with the rights of those before it: " + PersonRoles.Names + ").");

    protected override Task HandleChallengeAsync(AuthenticationProperties properties)
    {
        Response.Headers.WWWAuthenticate = "Bearer";
        return ApiProblems.Write(Context, StatusCodes.Status401Unauthorized, "A bearer token is required",
            "Send 'Authorization: Bearer TOKEN'; the token is in the file named at the host's first start, or in ControlPlane:Token.");
    }
}
