using System.Text.Json;
using System.Text.Unicode;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.HttpResults;

namespace AgentTrainer.ControlPlane.Api;

/// <summary>Reads a JSON body strictly (the API's dialect, unknown fields refused), turning every
/// way it can be wrong into a problem that says what was wrong.</summary>
public static class ApiRequest
{
    public static async Task<(JsonElement Body, ProblemHttpResult? Problem)> ReadJsonAsync(HttpRequest request)
    {
        if (!request.HasJsonContentType())
        {
            return (default, ApiProblems.Problem(StatusCodes.Status415UnsupportedMediaType, "Unsupported media type", "Send the body as application/json."));
        }
        try
        {
            // The body is read whole (the server caps its size) and checked as UTF-8 first: JSON parsing
            // only finds bad bytes inside a string when the string is read, far from here.
            using var body = new MemoryStream();
            await request.Body.CopyToAsync(body, request.HttpContext.RequestAborted).ConfigureAwait(false);
            ReadOnlyMemory<byte> bytes = body.GetBuffer().AsMemory(0, (int)body.Length);
            if (!Utf8.IsValid(bytes.Span))
            {
                return (default, ApiProblems.BadRequest("The body is not valid UTF-8; send JSON text encoded as UTF-8."));
            }
            using JsonDocument document = JsonDocument.Parse(bytes);
            return document.RootElement.ValueKind == JsonValueKind.Object
                ? (document.RootElement.Clone(), null)
                : (default, ApiProblems.BadRequest($"The body must be a JSON object; got {document.RootElement.ValueKind.ToString().ToLowerInvariant()}."));
        }
        catch (JsonException error)
        {
            return (default, ApiProblems.BadRequest($"The body is not valid JSON: {error.Message}"));
        }
        catch (BadHttpRequestException error) when (error.StatusCode == StatusCodes.Status413PayloadTooLarge)
        {
            return (default, ApiProblems.Problem(error.StatusCode, "Request body too large", error.Message));
        }
    }

    /// <summary>Binds a JSON object to <typeparamref name="T"/>; unknown fields, missing required ones and wrong types are problems.</summary>
    public static (T? Value, ProblemHttpResult? Problem) Bind<T>(JsonElement body) where T : class
    {
        try
        {
            T? value = body.Deserialize<T>(ApiJson.Options);
            return value is null ? (null, ApiProblems.BadRequest("The body is null; send a JSON object.")) : (value, null);
        }
        catch (JsonException error)
        {
            return (null, ApiProblems.BadRequest($"The body does not fit: {error.Message}"));
        }
    }
}
