using System.Reflection;
using System.Text.Json.Serialization;

namespace AgentTrainer.Core.Records;

/// <summary>The wire name (<c>type</c>) of each kind of <see cref="RunEvent"/>, read once from its
/// JSON polymorphism attributes so names live in one place.</summary>
public static class RunEventTypes
{
    private static readonly Dictionary<Type, string> Names = typeof(RunEvent).GetCustomAttributes<JsonDerivedTypeAttribute>()
        .ToDictionary(attribute => attribute.DerivedType, attribute => (string)attribute.TypeDiscriminator!);

    public static IReadOnlyCollection<string> All => Names.Values;

    public static string Of(RunEvent runEvent) => Names[runEvent.GetType()];
}
