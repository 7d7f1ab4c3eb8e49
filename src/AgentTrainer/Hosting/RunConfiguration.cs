using System.Collections;
using System.ComponentModel;
using System.Globalization;
using System.Reflection;
using System.Text.Json;
using AgentTrainer.Agents;
using AgentTrainer.ControlPlane;
using AgentTrainer.ControlPlane.Remote;
using AgentTrainer.Core.Options;
using AgentTrainer.Service;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Configuration.EnvironmentVariables;

namespace AgentTrainer.App.Hosting;

/// <summary>A run's settings, from lowest to highest precedence: appsettings.json beside the binary (the
/// embedded defaults), an optional --config file, AGENTTRAINER_-prefixed environment variables
/// (AGENTTRAINER_Training__Steps=100), command-line options. Loaded and checked before anything starts:
/// a settings file that is missing, not a regular file, too large or not a JSON object, a key our sections
/// do not have (with a "did you mean"), and a value of the wrong type are each reported, naming the file
/// and line or the environment variable, the key and what was expected; all of them at once.</summary>
public static class RunConfiguration
{
    public const string EnvironmentPrefix = "AGENTTRAINER_";

    /// <summary>The sections and the options type each binds to; Logging's keys are the logging library's own.</summary>
    private static readonly Dictionary<string, Type?> Sections = new(StringComparer.OrdinalIgnoreCase)
    {
        [TrainingOptions.Section] = typeof(TrainingOptions),
        [AgentOptions.Section] = typeof(AgentOptions),
        [ControlPlaneOptions.Section] = typeof(ControlPlaneOptions),
        [RemoteOptions.Section] = typeof(RemoteOptions),
        [ServiceOptions.Section] = typeof(ServiceOptions),
        ["Logging"] = null,
    };

    /// <summary>The checked configuration; <see cref="ConfigurationProblemsException"/> lists what is wrong.</summary>
    public static IConfigurationRoot Load(IEnumerable<KeyValuePair<string, string?>> commandLine, string? configFile)
    {
        var configuration = new ConfigurationManager();
        var files = new Dictionary<IConfigurationProvider, string>();
        AddFile(configuration, files, Path.Combine(AppContext.BaseDirectory, "appsettings.json"), "the embedded defaults");
        if (configFile is not null)
        {
            AddFile(configuration, files, Path.GetFullPath(configFile), "--config");
        }
        configuration.AddEnvironmentVariables(EnvironmentPrefix);
        configuration.AddInMemoryCollection(commandLine);
        var problems = new List<string>();
        string SourceOf(string key) => Source(configuration, files, key);
        foreach (IConfigurationSection section in configuration.GetChildren())
        {
            if (!Sections.TryGetValue(section.Key, out Type? type))
            {
                problems.Add($"{SourceOf(section.Path)}: {section.Path}: unknown section{DidYouMean(section.Key, Sections.Keys)}; "
                    + $"the sections are {string.Join(", ", Sections.Keys)}.");
            }
            else if (type is not null)
            {
                CheckSection(SourceOf, section, type, problems);
            }
        }
        if (problems.Count > 0)
        {
            throw new ConfigurationProblemsException(problems);
        }
        return configuration;
    }

    /// <summary>Reads a settings file (bounded: see <see cref="SettingsFile"/>) and adds it as a source.</summary>
    private static void AddFile(ConfigurationManager configuration, Dictionary<IConfigurationProvider, string> files, string path, string role)
    {
        byte[] content;
        try
        {
            content = SettingsFile.Read(path);
        }
        catch (InvalidDataException error)
        {
            throw new ConfigurationProblemsException([$"{role} {error.Message}"]);
        }
        try
        {
            configuration.AddJsonStream(new MemoryStream(content));
        }
        catch (Exception error) when (error is JsonException or FormatException or InvalidDataException)
        {
            JsonException? json = error as JsonException ?? error.InnerException as JsonException;
            string where = json?.LineNumber is { } line ? string.Create(CultureInfo.InvariantCulture, $":{line + 1}") : "";
            throw new ConfigurationProblemsException([$"{role} {path}{where}: not a JSON object of settings: {(json ?? error).Message}"]);
        }
        files[((IConfigurationRoot)configuration).Providers.Last()] = path;
    }

    private static void CheckSection(Func<string, string> sourceOf, IConfigurationSection section, Type type, List<string> problems)
    {
        if (section.Value is { Length: > 0 } && !section.GetChildren().Any())
        {
            problems.Add($"{sourceOf(section.Path)}: {section.Path}: is a section of settings, not a single value.");
            return;
        }
        if (DictionaryValueType(type) is { } valueType)
        {
            foreach (IConfigurationSection item in section.GetChildren())
            {
                CheckValue(sourceOf, item, valueType, problems);
            }
            return;
        }
        if (ElementType(type) is { } element)
        {
            foreach (IConfigurationSection item in section.GetChildren())
            {
                if (!int.TryParse(item.Key, NumberStyles.None, CultureInfo.InvariantCulture, out _))
                {
                    problems.Add($"{sourceOf(item.Path)}: {item.Path}: a list's items are numbered 0, 1, 2...; got '{item.Key}'.");
                }
                else
                {
                    CheckValue(sourceOf, item, element, problems);
                }
            }
            return;
        }
        PropertyInfo[] properties = [.. type.GetProperties(BindingFlags.Public | BindingFlags.Instance).Where(p => p.CanWrite)];
        foreach (IConfigurationSection child in section.GetChildren())
        {
            PropertyInfo? property = properties.FirstOrDefault(p => string.Equals(p.Name, child.Key, StringComparison.OrdinalIgnoreCase));
            if (property is null)
            {
                problems.Add($"{sourceOf(child.Path)}: {child.Path}: unknown setting{DidYouMean(child.Key, properties.Select(p => p.Name))}; "
                    + $"{section.Path} has {string.Join(", ", properties.Select(p => p.Name))}.");
            }
            else
            {
                CheckValue(sourceOf, child, property.PropertyType, problems);
            }
        }
    }

    private static void CheckValue(Func<string, string> sourceOf, IConfigurationSection setting, Type type, List<string> problems)
    {
        Type valueType = Nullable.GetUnderlyingType(type) ?? type;
        if (!IsValue(valueType))
        {
            CheckSection(sourceOf, setting, valueType, problems);
            return;
        }
        if (setting.GetChildren().Any())
        {
            problems.Add($"{sourceOf(setting.Path)}: {setting.Path}: is a single value, not a section.");
            return;
        }
        if (string.IsNullOrEmpty(setting.Value) || valueType == typeof(string))
        {
            return;
        }
        try
        {
            TypeDescriptor.GetConverter(valueType).ConvertFromInvariantString(setting.Value);
        }
        catch (Exception error) when (error is FormatException or ArgumentException or NotSupportedException
            || error.InnerException is FormatException or OverflowException)
        {
            problems.Add($"{sourceOf(setting.Path)}: {setting.Path}: '{setting.Value}' is not {Expected(valueType)}.");
        }
    }

    private static bool IsValue(Type type) =>
        type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(decimal) || type == typeof(TimeSpan);

    private static Type? DictionaryValueType(Type type) =>
        type.IsGenericType && type.GetGenericTypeDefinition() == typeof(Dictionary<,>) ? type.GetGenericArguments()[1] : null;

    private static Type? ElementType(Type type) =>
        type == typeof(string) || !typeof(IEnumerable).IsAssignableFrom(type)
            ? null
            : type.IsArray ? type.GetElementType() : type.GetGenericArguments().FirstOrDefault();

    private static string Expected(Type type) => type switch
    {
        _ when type == typeof(int) || type == typeof(long) => "a whole number",
        _ when type == typeof(double) || type == typeof(float) => "a number",
        _ when type == typeof(bool) => "true or false",
        _ when type == typeof(TimeSpan) => "a duration (hh:mm:ss, e.g. 00:01:30)",
        _ => $"a {type.Name}",
    };

    /// <summary>Where the winning value of a key comes from: FILE:LINE, the environment variable, or the command line.</summary>
    private static string Source(IConfigurationRoot root, Dictionary<IConfigurationProvider, string> files, string key)
    {
        IConfigurationProvider? provider = root.Providers.Reverse().FirstOrDefault(p => p.TryGet(key, out _) || HasChildren(p, key));
        return provider switch
        {
            not null when files.TryGetValue(provider, out string? file) => file + LineOf(file, key),
            EnvironmentVariablesConfigurationProvider => $"environment variable {EnvironmentPrefix}{key.Replace(":", "__", StringComparison.Ordinal)}",
            _ => "the command line",
        };
    }

    private static bool HasChildren(IConfigurationProvider provider, string key) =>
        provider.GetChildKeys([], key).Any();

    /// <summary>":LINE" of the key's last name in a JSON file (the first line that names it), or "".</summary>
    private static string LineOf(string file, string key)
    {
        string name = $"\"{key[(key.LastIndexOf(':') + 1)..]}\"";
        int line = 0;
        foreach (string text in File.ReadLines(file))
        {
            line++;
            if (text.Contains(name, StringComparison.OrdinalIgnoreCase))
            {
                return string.Create(CultureInfo.InvariantCulture, $":{line}");
            }
        }
        return "";
    }

    private static string DidYouMean(string key, IEnumerable<string> known)
    {
        string? best = known.MinBy(name => Distance(key.ToUpperInvariant(), name.ToUpperInvariant()));
        return best is not null && Distance(key.ToUpperInvariant(), best.ToUpperInvariant()) <= Math.Max(2, key.Length / 3)
            ? $" (did you mean {best}?)"
            : "";
    }

    /// <summary>Levenshtein distance, with a swap of two neighbours counted as one edit (Agnet → Agent).</summary>
    private static int Distance(string a, string b)
    {
        int[,] d = new int[a.Length + 1, b.Length + 1];
        for (int i = 0; i <= a.Length; i++)
        {
            d[i, 0] = i;
        }
        for (int j = 0; j <= b.Length; j++)
        {
            d[0, j] = j;
        }
        for (int i = 1; i <= a.Length; i++)
        {
            for (int j = 1; j <= b.Length; j++)
            {
                int cost = a[i - 1] == b[j - 1] ? 0 : 1;
                d[i, j] = Math.Min(Math.Min(d[i - 1, j] + 1, d[i, j - 1] + 1), d[i - 1, j - 1] + cost);
                if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
                {
                    d[i, j] = Math.Min(d[i, j], d[i - 2, j - 2] + 1);
                }
            }
        }
        return d[a.Length, b.Length];
    }
}

/// <summary>Settings that cannot be used: every problem found, each naming its source, key and what was expected.</summary>
public sealed class ConfigurationProblemsException(IReadOnlyList<string> problems)
    : Exception(string.Join(Environment.NewLine, problems))
{
    public IReadOnlyList<string> Problems { get; } = problems;
}
