using System.Globalization;
using System.Text.RegularExpressions;
using AgentTrainer.Core.Commands;
using AgentTrainer.Core.Options;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;
using static System.FormattableString;

namespace AgentTrainer.Core.Policies;

/// <summary>A policy file that cannot be used. The message names the file, the line and the rule.</summary>
public sealed class PolicyException(string message) : Exception(message);

/// <summary>Reads and validates policies/*.yaml. Unknown keys, wrong types and out-of-range values
/// are errors, each as <c>FILE:LINE: RULE: problem</c>, all reported together.</summary>
public static partial class PolicyLoader
{
    /// <summary>The longest wait for a person a policy may set (a year): a deadline stays a date.</summary>
    public const double MaxApprovalTimeoutMinutes = 365 * 24 * 60;

    public static Policy Load(string path)
    {
        // Read only as what it claims to be: a policy is a YAML file, never a file of another kind named as one.
        if (Path.GetExtension(path) is not (".yaml" or ".yml"))
        {
            throw new PolicyException($"{path}: a policy is a .yaml or .yml file.");
        }
        try
        {
            return Parse(System.Text.Encoding.UTF8.GetString(SettingsFile.Read(path)), path);
        }
        catch (InvalidDataException error)
        {
            throw new PolicyException(error.Message);
        }
    }

    public static Policy Parse(string yaml, string source)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(yaml));
        }
        catch (YamlException error)
        {
            throw new PolicyException($"{source}:{error.Start.Line}: not valid YAML: {error.Message}");
        }
        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is not YamlMappingNode root)
        {
            throw new PolicyException($"{source}:1: a policy must be a mapping of rules.");
        }
        var reader = new Reader(source);
        Policy policy = reader.Read(root);
        if (reader.Errors.Count > 0)
        {
            throw new PolicyException(string.Join(Environment.NewLine, reader.Errors));
        }
        return policy;
    }

    private sealed class Reader(string source)
    {
        public List<string> Errors { get; } = [];

        public Policy Read(YamlMappingNode root)
        {
            var sections = Keys(root, "",
            [
                "name", "description", "learning_rate", "cooldown_steps", "rollback", "reset_layer", "approval",
                "staleness_steps", "guards", "explore", "skip_data",
            ]);
            var defaults = new Policy { Name = "", Source = source };
            YamlMappingNode? lr = Section(
                sections, "learning_rate", ["min", "max", "max_change_factor", "window_steps"]);
            YamlMappingNode? rollback = Section(
                sections, "rollback", ["max_per_run", "max_depth_steps", "max_regression", "max_start_overs"]);
            YamlMappingNode? reset = Section(sections, "reset_layer", ["allowed"]);
            YamlMappingNode? approval = Section(
                sections, "approval", ["required_for", "timeout_minutes", "supersede", "hold_run", "rejection_cooldown_steps"]);
            YamlMappingNode? guards = Section(
                sections, "guards", ["non_finite_loss", "loss_spike_factor", "grad_norm_explosion_factor"]);

            YamlMappingNode? explore = Section(
                sections, "explore", ["learning_rate_factors", "steps", "max_rounds", "max_per_run", "choose"]);
            YamlMappingNode? skip = Section(sections, "skip_data", ["batches", "max_per_run"]);

            string name = Text(sections, "name", "name") ?? "";
            if (name.Length == 0)
            {
                Errors.Add($"{source}:{root.Start.Line}: name: every policy needs a name.");
            }
            var policy = new Policy
            {
                Name = name,
                Source = source,
                Description = Text(sections, "description", "description") ?? "",
                MinLearningRate = Number(lr, "min", "learning_rate.min", defaults.MinLearningRate, positive: true),
                MaxLearningRate = Number(lr, "max", "learning_rate.max", defaults.MaxLearningRate, positive: true),
                MaxChangeFactor = Number(
                    lr, "max_change_factor", "learning_rate.max_change_factor", defaults.MaxChangeFactor,
                    positive: true),
                ChangeWindowSteps = Whole(
                    lr, "window_steps", "learning_rate.window_steps", defaults.ChangeWindowSteps, minimum: 1),
                CooldownSteps = Whole(sections, "cooldown_steps", "cooldown_steps", defaults.CooldownSteps, minimum: 0),
                MaxRollbacks = Count(
                    rollback, "max_per_run", "rollback.max_per_run", defaults.MaxRollbacks, minimum: 0),
                MaxRollbackDepthSteps = Whole(
                    rollback, "max_depth_steps", "rollback.max_depth_steps", defaults.MaxRollbackDepthSteps,
                    minimum: 1),
                MaxRegression = Number(
                    rollback, "max_regression", "rollback.max_regression", defaults.MaxRegression, positive: false),
                MaxStartOvers = Count(
                    rollback, "max_start_overs", "rollback.max_start_overs", defaults.MaxStartOvers, minimum: 0),
                ResettableLayers = List(reset, "allowed", "reset_layer.allowed") ?? defaults.ResettableLayers,
                ApprovalRequiredFor = Actions(approval, "required_for"),
                Supersede = Choice(
                    approval, "supersede", "approval.supersede", defaults.Supersede, SupersedeModes.All),
                HoldRunFor = Actions(approval, "hold_run"),
                RejectionCooldownSteps = Whole(approval, "rejection_cooldown_steps", "approval.rejection_cooldown_steps",
                    defaults.RejectionCooldownSteps, minimum: 0),
                ApprovalTimeout = TimeSpan.FromMinutes(Number(
                    approval, "timeout_minutes", "approval.timeout_minutes", defaults.ApprovalTimeout.TotalMinutes,
                    positive: true, maximum: MaxApprovalTimeoutMinutes)),
                MaxStalenessSteps = Whole(
                    sections, "staleness_steps", "staleness_steps", defaults.MaxStalenessSteps, minimum: 0),
                NonFiniteGuard = Choice(
                    guards, "non_finite_loss", "guards.non_finite_loss", defaults.NonFiniteGuard, GuardActions.All),
                LossSpikeFactor = Number(
                    guards, "loss_spike_factor", "guards.loss_spike_factor", defaults.LossSpikeFactor, positive: true),
                GradNormExplosionFactor = Number(
                    guards, "grad_norm_explosion_factor", "guards.grad_norm_explosion_factor",
                    defaults.GradNormExplosionFactor, positive: true),
                Explore = explore is null ? null : ReadExplore(explore),
                SkipData = skip is null ? null : new SkipDataPolicy
                {
                    Batches = Whole(skip, "batches", "skip_data.batches", new SkipDataPolicy().Batches, minimum: 1),
                    MaxPerRun = Count(skip, "max_per_run", "skip_data.max_per_run", new SkipDataPolicy().MaxPerRun,
                        minimum: 0),
                },
            };
            foreach (InterventionAction held in policy.HoldRunFor.Except(policy.ApprovalRequiredFor))
            {
                Errors.Add($"{source}:{approval!.Start.Line}: approval.hold_run: {InterventionActions.Name(held)} "
                    + "never waits for a person (it is not in approval.required_for), so nothing holds the run for it.");
            }
            if (policy.MinLearningRate >= policy.MaxLearningRate && lr is not null)
            {
                Errors.Add($"{source}:{lr.Start.Line}: learning_rate: min ({policy.MinLearningRate}) "
                    + $"must be below max ({policy.MaxLearningRate}).");
            }
            if (policy.MaxRegression < 0 && rollback is not null)
            {
                Errors.Add($"{source}:{rollback.Start.Line}: rollback.max_regression: must be a fraction >= 0; "
                    + $"got {policy.MaxRegression}.");
            }
            if (policy.MaxChangeFactor < 1 && lr is not null)
            {
                Errors.Add($"{source}:{lr.Start.Line}: learning_rate.max_change_factor: must be at least 1; "
                    + $"got {policy.MaxChangeFactor}.");
            }
            return policy;
        }

        private ExplorePolicy ReadExplore(YamlMappingNode explore)
        {
            var defaults = new ExplorePolicy();
            List<double>? factors = Numbers(explore, "learning_rate_factors", "explore.learning_rate_factors");
            if (factors is not null && new ExploreCommand { LearningRateFactors = factors, Steps = 1 }.Validate() is { } problem)
            {
                Errors.Add($"{source}:{explore.Start.Line}: explore.learning_rate_factors: {problem}");
            }
            return new ExplorePolicy
            {
                LearningRateFactors = factors ?? defaults.LearningRateFactors,
                Steps = Whole(explore, "steps", "explore.steps", defaults.Steps, minimum: 1),
                MaxRounds = Count(explore, "max_rounds", "explore.max_rounds", defaults.MaxRounds, minimum: 1),
                Choose = Choice(explore, "choose", "explore.choose", BranchChoiceNames.Best, BranchChoiceNames.All)
                    == BranchChoiceNames.Person ? BranchChoice.Person : BranchChoice.Best,
                MaxPerRun = Count(explore, "max_per_run", "explore.max_per_run", defaults.MaxPerRun, minimum: 0),
            };
        }

        private List<double>? Numbers(YamlMappingNode parent, string key, string rule)
        {
            YamlNode? node = Child(parent, key);
            if (node is null)
            {
                return null;
            }
            var numbers = new List<double>();
            foreach (YamlNode item in node is YamlSequenceNode sequence ? sequence.Children : [node])
            {
                if (item is not YamlScalarNode { Value: { } text }
                    || !double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value))
                {
                    Errors.Add($"{source}:{item.Start.Line}: {rule}: must be a list of numbers.");
                    return null;
                }
                numbers.Add(value);
            }
            return numbers;
        }

        private Dictionary<string, YamlNode> Keys(YamlMappingNode mapping, string prefix, string[] allowed)
        {
            var result = new Dictionary<string, YamlNode>(StringComparer.Ordinal);
            foreach ((YamlNode keyNode, YamlNode value) in mapping.Children)
            {
                if (keyNode is not YamlScalarNode { Value: { } key })
                {
                    string section = prefix.Length > 0 ? prefix.TrimEnd('.') + ": " : "";
                    Errors.Add($"{source}:{keyNode.Start.Line}: {section}a rule's name must be a plain word, "
                        + "not a list or a mapping.");
                    continue;
                }
                if (!allowed.Contains(key))
                {
                    Errors.Add($"{source}:{keyNode.Start.Line}: {prefix}{Shown(key)}: unknown rule; "
                        + $"expected one of {string.Join(", ", allowed)}.");
                    continue;
                }
                result[key] = value;
            }
            return result;
        }

        private YamlMappingNode? Section(Dictionary<string, YamlNode> parent, string name, string[] allowed)
        {
            if (!parent.TryGetValue(name, out YamlNode? node))
            {
                return null;
            }
            if (node is not YamlMappingNode mapping)
            {
                Errors.Add($"{source}:{node.Start.Line}: {name}: must be a mapping of {string.Join(", ", allowed)}.");
                return null;
            }
            Keys(mapping, name + ".", allowed);
            return mapping;
        }

        /// <summary>A word of the file as an error may quote it: only what could be a policy's own words. The file
        /// may be any file the process can read (a hostile operator names /etc/shadow as a policy); its contents
        /// never leave in an error, only its name and line.</summary>
        private static string Shown(string text) => PolicyWord().IsMatch(text) ? text : "(not shown)";

        private static YamlNode? Child(object? parent, string key) => parent switch
        {
            Dictionary<string, YamlNode> dictionary => dictionary.GetValueOrDefault(key),
            YamlMappingNode mapping =>
                mapping.Children.FirstOrDefault(pair => pair.Key is YamlScalarNode scalar && scalar.Value == key).Value,
            _ => null,
        };

        private string? Text(object? parent, string key, string rule)
        {
            YamlNode? node = Child(parent, key);
            if (node is null)
            {
                return null;
            }
            if (node is YamlScalarNode scalar)
            {
                return scalar.Value;
            }
            Errors.Add($"{source}:{node.Start.Line}: {rule}: must be a single value.");
            return null;
        }

        private double Number(object? parent, string key, string rule, double fallback, bool positive,
            double maximum = double.MaxValue)
        {
            string? text = Text(parent, key, rule);
            if (text is null)
            {
                return fallback;
            }
            if (!double.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out double value)
                || !double.IsFinite(value) || (positive && value <= 0) || value > maximum)
            {
                string most = maximum < double.MaxValue ? Invariant($" of at most {maximum}") : "";
                Errors.Add($"{source}:{Child(parent, key)!.Start.Line}: {rule}: "
                    + $"must be a {(positive ? "positive " : "")}number{most}; got '{Shown(text)}'.");
                return fallback;
            }
            return value;
        }

        /// <summary>A count held in an int: a number past its range is refused, not wrapped (2^32 would be 0).</summary>
        private int Count(object? parent, string key, string rule, int fallback, int minimum) =>
            (int)Whole(parent, key, rule, fallback, minimum, maximum: int.MaxValue);

        private long Whole(object? parent, string key, string rule, long fallback, long minimum,
            long maximum = long.MaxValue)
        {
            string? text = Text(parent, key, rule);
            if (text is null)
            {
                return fallback;
            }
            if (!long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long value)
                || value < minimum || value > maximum)
            {
                Errors.Add($"{source}:{Child(parent, key)!.Start.Line}: {rule}: "
                    + Invariant($"must be a whole number from {minimum} to {maximum}; got '{Shown(text)}'."));
                return fallback;
            }
            return value;
        }

        private string Choice(object? parent, string key, string rule, string fallback, string[] allowed)
        {
            string? text = Text(parent, key, rule);
            if (text is null)
            {
                return fallback;
            }
            if (!allowed.Contains(text))
            {
                Errors.Add($"{source}:{Child(parent, key)!.Start.Line}: {rule}: "
                    + $"'{Shown(text)}' is not one of {string.Join(", ", allowed)}.");
                return fallback;
            }
            return text;
        }

        private List<string>? List(object? parent, string key, string rule)
        {
            YamlNode? node = Child(parent, key);
            if (node is null)
            {
                return null;
            }
            if (node is not YamlSequenceNode sequence || sequence.Children.Any(item => item is not YamlScalarNode))
            {
                Errors.Add($"{source}:{node.Start.Line}: {rule}: must be a list of names.");
                return null;
            }
            return [.. sequence.Children.Select(item => ((YamlScalarNode)item).Value ?? "")];
        }

        private List<InterventionAction> Actions(YamlMappingNode? approval, string key)
        {
            var actions = new List<InterventionAction>();
            foreach (string name in List(approval, key, "approval." + key) ?? [])
            {
                if (InterventionActions.Parse(name) is { } action)
                {
                    actions.Add(action);
                }
                else
                {
                    Errors.Add($"{source}:{Child(approval, key)!.Start.Line}: approval.{key}: "
                        + $"'{Shown(name)}' is not one of {string.Join(", ", InterventionActions.AllNames)}.");
                }
            }
            return actions;
        }
    }

    [GeneratedRegex(@"\A[A-Za-z0-9_.+*\-]{1,40}\z")]
    private static partial Regex PolicyWord();
}
