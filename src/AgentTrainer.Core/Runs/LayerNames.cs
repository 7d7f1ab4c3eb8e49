namespace AgentTrainer.Core.Runs;

/// <summary>What a layer is, for every part that checks one (the gate, the API, faults, the trainer): a
/// module of the model named by its dotted path, top-level ("head") or nested ("blocks.0.mlp").</summary>
public static class LayerNames
{
    /// <summary>Null when <paramref name="layer"/> names one of <paramref name="layers"/>, else why not.</summary>
    public static string? Problem(IReadOnlyList<string> layers, string layer) =>
        layers.Contains(layer, StringComparer.Ordinal)
            ? null
            : $"the model has no layer '{layer}'; layers: {string.Join(", ", TopLevel(layers))}"
              + (layers.Any(IsNested) ? " and the modules inside them, by dotted path" : "") + ".";

    public static IEnumerable<string> TopLevel(IReadOnlyList<string> layers) => layers.Where(name => !IsNested(name));

    private static bool IsNested(string name) => name.Contains('.', StringComparison.Ordinal);
}
