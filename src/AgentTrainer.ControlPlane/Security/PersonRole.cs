namespace AgentTrainer.ControlPlane.Security;

/// <summary>What a person's token may do; each role may do what the ones before it may. A viewer reads; a
/// reviewer also approves and rejects proposals; an operator also starts and stops runs and sends commands; an
/// admin also creates and revokes tokens.</summary>
public enum PersonRole
{
    Viewer,
    Reviewer,
    Operator,
    Admin,
}

public static class PersonRoles
{
    public static string Name(PersonRole role) => role switch
    {
        PersonRole.Viewer => "viewer",
        PersonRole.Reviewer => "reviewer",
        PersonRole.Operator => BearerTokenHandler.OperatorRole,
        PersonRole.Admin => "admin",
        _ => throw new ArgumentOutOfRangeException(nameof(role)),
    };

    public static PersonRole? Parse(string? name) =>
        Enum.GetValues<PersonRole>().Select(role => (PersonRole?)role).FirstOrDefault(role => Name(role!.Value) == name);

    public static string Names => string.Join(", ", Enum.GetValues<PersonRole>().Select(Name));

    /// <summary>The role claims a token of this role carries: its own and every lesser one.</summary>
    public static IEnumerable<string> Granted(PersonRole role) =>
        Enum.GetValues<PersonRole>().Where(granted => granted <= role).Select(Name);
}

/// <summary>Who a token belongs to.</summary>
public sealed record Person(string Name, PersonRole Role);

/// <summary>People's own tokens (the service's store); absent for a single run, which has only its host token.</summary>
public interface IPersonDirectory
{
    /// <summary>The person a token belongs to, or null when it is no one's (or revoked).</summary>
    Person? Authenticate(string token);
}
