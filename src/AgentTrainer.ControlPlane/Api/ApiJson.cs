using System.Text.Json;
using System.Text.Json.Serialization;
using AgentTrainer.Core.Records;

namespace AgentTrainer.ControlPlane.Api;

/// <summary>The API's JSON: the run records' dialect (snake_case, NaN as a string), strict on input:
/// an unknown field is an error, not something silently ignored.</summary>
public static class ApiJson
{
    public static readonly JsonSerializerOptions Options = Create();

    /// <summary>Applies the API dialect to options ASP.NET Core owns (minimal-API results).</summary>
    public static void Apply(JsonSerializerOptions options)
    {
        options.PropertyNamingPolicy = RunJson.Options.PropertyNamingPolicy;
        options.DictionaryKeyPolicy = RunJson.Options.DictionaryKeyPolicy;
        options.NumberHandling = RunJson.Options.NumberHandling;
        options.DefaultIgnoreCondition = RunJson.Options.DefaultIgnoreCondition;
        options.Encoder = RunJson.Options.Encoder;
        options.UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow;
        options.RespectNullableAnnotations = true;
        options.RespectRequiredConstructorParameters = true;
        options.AllowDuplicateProperties = false;
    }

    private static JsonSerializerOptions Create()
    {
        var options = new JsonSerializerOptions();
        Apply(options);
        options.MakeReadOnly(populateMissingResolver: true);
        return options;
    }
}
