using System.Text.Json;
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
            using JsonDocument document = await JsonDocument.ParseAsync(request.Body, default, request.HttpContext.RequestAborted).ConfigureAwait(false);
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
