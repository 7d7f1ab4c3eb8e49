using System.Reflection;
using System.Security.Cryptography;
using AgentTrainer.Build;

namespace AgentTrainer.Tests;

/// <summary>The build-time fix that lets TorchSharp's native library load on Debian 12.</summary>
public sealed class ElfVersionNeedPatcherTests : IDisposable
{
    private const string Version = "GLIBCXX_3.4.32";
    private readonly string _folder = TestFolders.Create("elf");

    public void Dispose() => TestFolders.Delete(_folder);

    private static string PackagedLibrary()
    {
        string root = typeof(ElfVersionNeedPatcherTests).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .Single(attribute => attribute.Key == "NuGetPackageRoot").Value!;
        return Path.Combine(root, "torchsharp", "0.107.0", "runtimes", "linux-x64", "native", "libLibTorchSharp.so");
    }

    private static string BuiltLibrary() =>
        Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    [Fact]
    public void ThePackagedLibrary_NeedsTheVersion_AndIsNeverModified()
    {
        Assert.Equal([(ushort)0], ElfVersionNeedPatcher.ReadVersionNeedFlags(PackagedLibrary(), Version));
    }

    [Fact]
    public void TheBuiltCopy_IsPatched_ExactlyWhenTheHostLacksTheVersion()
    {
        ushort flags = Assert.Single(ElfVersionNeedPatcher.ReadVersionNeedFlags(BuiltLibrary(), Version));
        bool weak = (flags & 2) != 0;
        Assert.Equal(!ElfVersionNeedPatcher.HostProvidesVersion(Version), weak);
        bool identical = SHA256.HashData(File.ReadAllBytes(PackagedLibrary())).AsSpan().SequenceEqual(SHA256.HashData(File.ReadAllBytes(BuiltLibrary())));
        Assert.Equal(!weak, identical);
    }

    [Fact]
    public void Patching_SetsOnlyTheWeakFlag_AndIsIdempotent()
    {
        string copy = Path.Combine(_folder, "lib.so");
        File.Copy(PackagedLibrary(), copy);
        byte[] original = File.ReadAllBytes(copy);

        Assert.Equal(ElfPatchOutcome.Patched, ElfVersionNeedPatcher.MarkVersionNeedWeak(copy, Version));
        byte[] patched = File.ReadAllBytes(copy);
        Assert.Equal([(ushort)2], ElfVersionNeedPatcher.ReadVersionNeedFlags(copy, Version));
        Assert.Equal(original.Length, patched.Length);
        Assert.Equal(1, original.Zip(patched).Count(pair => pair.First != pair.Second)); // one byte of one flag field

        Assert.Equal(ElfPatchOutcome.AlreadyWeak, ElfVersionNeedPatcher.MarkVersionNeedWeak(copy, Version));
        Assert.Equal(patched, File.ReadAllBytes(copy));
        Assert.Equal(ElfPatchOutcome.VersionNotNeeded, ElfVersionNeedPatcher.MarkVersionNeedWeak(copy, "GLIBCXX_9.9"));
    }

    [Fact]
    public void Patching_AHardLink_LeavesTheOtherNameUntouched()
    {
        string original = Path.Combine(_folder, "cache.so");
        string linked = Path.Combine(_folder, "output.so");
        File.Copy(PackagedLibrary(), original);
        using (var link = System.Diagnostics.Process.Start("ln", [original, linked]))
        {
            link.WaitForExit();
            Assert.Equal(0, link.ExitCode);
        }
        ElfVersionNeedPatcher.MarkVersionNeedWeak(linked, Version);
        Assert.Equal([(ushort)0], ElfVersionNeedPatcher.ReadVersionNeedFlags(original, Version));
        Assert.Equal([(ushort)2], ElfVersionNeedPatcher.ReadVersionNeedFlags(linked, Version));
    }

    [Fact]
    public void NotAnElfFile_OrATruncatedOne_IsAClearError()
    {
        string text = Path.Combine(_folder, "readme.so");
        File.WriteAllText(text, "not a library");
        Assert.Contains("is not an ELF file", Assert.Throws<InvalidDataException>(() => ElfVersionNeedPatcher.MarkVersionNeedWeak(text, Version)).Message, StringComparison.Ordinal);

        string truncated = Path.Combine(_folder, "truncated.so");
        File.WriteAllBytes(truncated, File.ReadAllBytes(PackagedLibrary())[..4096]);
        Assert.Contains("truncated or corrupt", Assert.Throws<InvalidDataException>(() => ElfVersionNeedPatcher.MarkVersionNeedWeak(truncated, Version)).Message, StringComparison.Ordinal);
    }
}
