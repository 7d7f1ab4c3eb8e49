using System.Net;
using Xunit;

namespace AgentTrainer.Tests.ControlPlane;

/// <summary>A browser origin listed in ControlPlane:AllowedOrigins may call the API (CORS headers,
/// preflight answered); any other is refused.</summary>
public sealed class CorsTests : IDisposable
{
    private const string Allowed = "https://dashboard.example:8443";
    private readonly ControlPlaneFactory _factory = new(new() { ["ControlPlane:AllowedOrigins:0"] = Allowed });

    [Fact]
    public async Task A_configured_origin_gets_cors_headers_and_others_are_refused()
    {
        _ = _factory.Run;
        using HttpClient client = _factory.CreateAuthorizedClient();

        using var preflight = new HttpRequestMessage(HttpMethod.Options, "/api/commands");
        preflight.Headers.Add("Origin", Allowed);
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        preflight.Headers.Add("Access-Control-Request-Headers", "authorization,content-type");
        using HttpResponseMessage answered = await client.SendAsync(preflight);
        Assert.Equal(HttpStatusCode.NoContent, answered.StatusCode);
        Assert.Equal(Allowed, answered.Headers.GetValues("Access-Control-Allow-Origin").Single());

        using var read = new HttpRequestMessage(HttpMethod.Get, "/api/run");
        read.Headers.Add("Origin", Allowed);
        using HttpResponseMessage allowed = await client.SendAsync(read);
        Assert.Equal(HttpStatusCode.OK, allowed.StatusCode);
        Assert.Equal(Allowed, allowed.Headers.GetValues("Access-Control-Allow-Origin").Single());

        using var other = new HttpRequestMessage(HttpMethod.Options, "/api/commands");
        other.Headers.Add("Origin", "https://elsewhere.example");
        other.Headers.Add("Access-Control-Request-Method", "POST");
        using HttpResponseMessage refused = await client.SendAsync(other);
        Assert.Equal(HttpStatusCode.Forbidden, refused.StatusCode);
        Assert.False(refused.Headers.Contains("Access-Control-Allow-Origin"));
    }

    public void Dispose() => _factory.Dispose();
}
