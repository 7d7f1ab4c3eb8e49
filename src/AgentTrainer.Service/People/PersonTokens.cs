using System.Security.Cryptography;
using System.Text;
using AgentTrainer.ControlPlane.Security;
using AgentTrainer.Core.Naming;
using AgentTrainer.Service.Store;

namespace AgentTrainer.Service.People;

/// <summary>People's API tokens in the store: made (shown once), listed, revoked; only a SHA-256 of each is kept.
/// A token is <c>atk_ID_SECRET</c>: the id finds its row, the hash of the whole token is compared in constant time.
/// Tokens are 256 random bits, so a fast hash is enough (there is nothing to guess a password from).</summary>
public sealed class PersonTokens(ServiceStore store, TimeProvider time) : IPersonDirectory
{
    private const string Prefix = "atk_";
    /// <summary>Makes a token for a person; the token itself is returned only here.</summary>
    /// <exception cref="ArgumentException">the name is not a person's name (<see cref="NameKind.Person"/>)</exception>
    public (string Token, PersonToken Entry) Create(string name, PersonRole role, string createdBy)
    {
        name = name.Trim();
        if (Names.Problem(NameKind.Person, name) is { } problem)
        {
            throw new ArgumentException(problem);
        }
        string id = Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(6));
        string token = $"{Prefix}{id}_{ApiToken.Base64Url(RandomNumberGenerator.GetBytes(32))}";
        DateTimeOffset now = time.GetUtcNow();
        store.Execute("""
            INSERT INTO people (token_id, name, role, token_hash, created_at, created_by)
            VALUES (@id, @name, @role, @hash, @created, @by)
            """,
            ("@id", id), ("@name", name), ("@role", PersonRoles.Name(role)), ("@hash", Hash(token)),
            ("@created", ServiceStore.Time(now)), ("@by", createdBy));
        return (token, new PersonToken(id, name, role, now, createdBy, null));
    }

    public IReadOnlyList<PersonToken> List() => store.Query("SELECT * FROM people ORDER BY created_at", reader =>
        new PersonToken(ServiceStore.Text(reader, "token_id")!, ServiceStore.Text(reader, "name")!,
            PersonRoles.Parse(ServiceStore.Text(reader, "role"))!.Value, ServiceStore.ReadTime(reader, "created_at"),
            ServiceStore.Text(reader, "created_by"),
            ServiceStore.Text(reader, "revoked_at") is { } revoked ? DateTimeOffset.Parse(revoked,
                System.Globalization.CultureInfo.InvariantCulture) : null));

    /// <summary>Revokes the tokens of an id or of a person's name; the number revoked (0: none matched).</summary>
    public int Revoke(string idOrName) => store.Execute(
        "UPDATE people SET revoked_at = @now WHERE (token_id = @key OR name = @key) AND revoked_at IS NULL",
        ("@now", ServiceStore.Time(time.GetUtcNow())), ("@key", idOrName));

    public Person? Authenticate(string token)
    {
        int end = token.StartsWith(Prefix, StringComparison.Ordinal) ? token.IndexOf('_', Prefix.Length) : -1;
        if (end < 0)
        {
            return null;
        }
        string id = token[Prefix.Length..end];
        byte[] hash = Encoding.ASCII.GetBytes(Hash(token));
        return store.Query("SELECT name, role, token_hash FROM people WHERE token_id = @id AND revoked_at IS NULL",
                reader => (Name: reader.GetString(0), Role: reader.GetString(1), Hash: reader.GetString(2)), ("@id", id))
            .Where(row => CryptographicOperations.FixedTimeEquals(Encoding.ASCII.GetBytes(row.Hash), hash))
            .Select(row => new Person(row.Name, PersonRoles.Parse(row.Role)!.Value))
            .FirstOrDefault();
    }

    private static string Hash(string token) => Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(token)));
}

/// <summary>A person's token as listed (never the token itself).</summary>
public sealed record PersonToken(
    string Id, string Name, PersonRole Role, DateTimeOffset CreatedAt, string? CreatedBy, DateTimeOffset? RevokedAt);
