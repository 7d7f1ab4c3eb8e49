namespace AgentTrainer.Eval.Figures;

/// <summary>Mean and spread (sample standard deviation; 0 for one seed) of a figure over seeds.</summary>
public sealed record Spread(double Mean, double StandardDeviation, int Count)
{
    public static Spread? Of(IEnumerable<double?> values)
    {
        double[] present = [.. values.OfType<double>()];
        if (present.Length == 0)
        {
            return null;
        }
        double mean = present.Average();
        double variance = present.Length > 1 ? present.Sum(v => (v - mean) * (v - mean)) / (present.Length - 1) : 0;
        return new Spread(mean, Math.Sqrt(variance), present.Length);
    }
}

/// <summary>One contestant on one scenario, over its seeds.</summary>
public sealed record ContestantResult
{
    public required string Scenario { get; init; }
    public required string Contestant { get; init; }
    public required bool IsOracle { get; init; }
    public required IReadOnlyList<RunFigures> Runs { get; init; }
    public Spread? FinalValLoss => Spread.Of(Runs.Select(r => r.FinalValLoss));
    public Spread? BestValLoss => Spread.Of(Runs.Select(r => r.BestValLoss));
    public Spread? ThrownAway => Spread.Of(Runs.Select(r => r.ThrownAway));
    public Spread? ValLossAuc => Spread.Of(Runs.Select(r => r.ValLossAuc));
    public Spread? RecoverySteps => Spread.Of(Runs.Select(r => (double?)r.RecoverySteps));
    public int NeverRecovered => Runs.Count(r => r.HasFault && r.RecoverySteps is null);
    public Spread TrainedSteps => Spread.Of(Runs.Select(r => (double?)r.TrainedSteps))!;
    public Spread InterventionsPer1000Steps => Spread.Of(Runs.Select(r => (double?)r.InterventionsPer1000Steps))!;
    public Spread WallSeconds => Spread.Of(Runs.Select(r => (double?)r.WallSeconds))!;
    public double Mean(Func<RunFigures, double> figure) => Runs.Average(figure);

    /// <summary>Final loss over the oracle's (the best constant lr of the grid, per seed).</summary>
    public Spread? OracleRatio { get; init; }

    /// <summary>Seeds in which this contestant ended below the baseline (same seed).</summary>
    public int BeatsBaseline { get; init; }

    /// <summary>Seeds in which it ended within 2% of the baseline with at most one intervention per 1000 steps.</summary>
    public int MeetsKeepBar { get; init; }

    /// <summary>Seeds in which it did no harm: its final and its best validation loss each within 2% of the
    /// baseline's (same seed) or better.</summary>
    public int DoesNoHarm { get; init; }

    /// <summary>Mean final loss relative to the baseline's (0.05: 5% higher).</summary>
    public double? VersusBaseline { get; init; }
}
