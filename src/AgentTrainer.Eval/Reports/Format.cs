using System.Globalization;
using AgentTrainer.Eval.Figures;

namespace AgentTrainer.Eval;

/// <summary>How figures read in the report: invariant culture, a fixed number of digits.</summary>
public static class Format
{
    public static string Number(double? value, int digits = 4) =>
        value is { } v ? v.ToString("F" + digits.ToString(CultureInfo.InvariantCulture), CultureInfo.InvariantCulture) : "—";

    public static string Spread(Spread? spread, int digits = 4) =>
        spread is null ? "—" : spread.Count > 1 ? $"{Number(spread.Mean, digits)} ± {Number(spread.StandardDeviation, digits)}" : Number(spread.Mean, digits);

    public static string Percent(double value) => (value * 100).ToString("+0.0;-0.0;0.0", CultureInfo.InvariantCulture) + "%";
}
