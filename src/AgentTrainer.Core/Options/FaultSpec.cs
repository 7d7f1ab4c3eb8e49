using System.Globalization;

namespace AgentTrainer.Core.Options;

/// <summary>The command-line form of a fault: <c>KIND:step=S[,factor=F][,count=N][,layer=NAME]</c>,
/// e.g. <c>lr-spike:step=300,factor=50</c> or <c>zero-layer:step=200,layer=hidden</c>.</summary>
public static class FaultSpec
{
    public const string Syntax = "KIND:step=S[,factor=F][,count=N][,layer=NAME][,path=FILE] with KIND one of lr-spike, "
        + "corrupt-batches, scale-layer, zero-layer, data-arrives";

    public static FaultOptions Parse(string text)
    {
        int colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon <= 0)
        {
            throw new FormatException($"'{text}' is not a fault: expected {Syntax}.");
        }
        var fault = new FaultOptions { Kind = text[..colon].Trim() };
        foreach (string pair in text[(colon + 1)..].Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string[] parts = pair.Split('=', 2, StringSplitOptions.TrimEntries);
            if (parts.Length != 2)
            {
                throw new FormatException($"'{pair}' in fault '{text}' is not key=value: expected {Syntax}.");
            }
            string value = parts[1];
            switch (parts[0])
            {
                case "step": fault.Step = ParseInt(value, text); break;
                case "count": fault.Count = ParseInt(value, text); break;
                case "factor":
                    fault.Factor = double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double factor)
                        ? factor
                        : throw new FormatException($"factor '{value}' in fault '{text}' is not a number.");
                    break;
                case "layer": fault.Layer = value; break;
                case "path": fault.Path = value; break;
                default: throw new FormatException($"'{parts[0]}' in fault '{text}' is not a fault setting: expected {Syntax}.");
            }
        }
        return fault;
    }

    /// <summary>What is wrong with a fault, if anything, in words a user can act on.</summary>
    public static IEnumerable<string> Validate(FaultOptions fault, int steps)
    {
        if (!FaultKinds.All.Contains(fault.Kind))
        {
            yield return $"kind '{fault.Kind}' is not one of {string.Join(", ", FaultKinds.All)}.";
            yield break;
        }
        if (fault.Step < 0 || fault.Step >= steps)
        {
            yield return $"step must be within the run (0 to {steps - 1}); got {fault.Step}.";
        }
        if (fault.Kind is FaultKinds.LrSpike or FaultKinds.ScaleLayer
            && (!double.IsFinite(fault.Factor) || fault.Factor <= 0 || fault.Factor > NumericLimits.MaxScaleFactor))
        {
            yield return string.Create(CultureInfo.InvariantCulture,
                $"factor must be a number above 0 and at most {NumericLimits.MaxScaleFactor:G6}; got {fault.Factor:G6}.");
        }
        if (fault.Kind == FaultKinds.CorruptBatches && fault.Count < 1)
        {
            yield return $"count must be at least 1; got {fault.Count}.";
        }
        if (fault.Kind is FaultKinds.ScaleLayer or FaultKinds.ZeroLayer && string.IsNullOrWhiteSpace(fault.Layer))
        {
            yield return "layer must name a module of the model.";
        }
        if (fault.Kind == FaultKinds.DataArrives && !File.Exists(fault.Path))
        {
            yield return $"path must name a text file that exists; got '{fault.Path}'.";
        }
    }

    private static int ParseInt(string value, string text) =>
        int.TryParse(value, NumberStyles.Integer, CultureInfo.InvariantCulture, out int number)
            ? number
            : throw new FormatException($"'{value}' in fault '{text}' is not a whole number.");
}
