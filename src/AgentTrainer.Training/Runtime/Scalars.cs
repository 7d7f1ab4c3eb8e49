using TorchSharp;

namespace AgentTrainer.Training.Runtime;

/// <summary>Scalars for libtorch calls that the GC cannot free mid-call.</summary>
/// <remarks>
/// TorchSharp 0.107 hands a <see cref="Scalar"/>'s native handle to libtorch without keeping the Scalar
/// alive: a bare number converted implicitly (<c>t.mul_(0.5)</c>, <c>a + b</c>, which is
/// <c>a.add(b, alpha: 1)</c>, <c>t.square()</c>, which is <c>t.pow(2)</c>, <c>torch.arange(n)</c>) is a
/// temporary that a GC may finalize while libtorch still reads it, and libtorch then reads freed memory.
/// So on every path the trainer runs, a Scalar argument is either one of these constants, which live as
/// long as the process, or a <c>using</c> local, which lives until after its last call.
/// </remarks>
public static class Scalars
{
    public static readonly Scalar Zero = 0.ToScalar();
    public static readonly Scalar One = 1.ToScalar();
    public static readonly Scalar Two = 2.ToScalar();
}
