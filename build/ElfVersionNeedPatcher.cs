// Makes libLibTorchSharp.so load on hosts whose libstdc++ is older than the one it was linked
// against (Debian 12 stops at GLIBCXX_3.4.32's predecessor). GCC 13 records a version need on
// GLIBCXX_3.4.32 only to pin `std::ios_base_library_init`, which is never called; marking that
// need VER_FLG_WEAK lets the dynamic loader accept a libstdc++ that lacks it.
//
// This file is compiled twice: by MSBuild's RoslynCodeTaskFactory (build/TorchSharpNativeFix.targets),
// and by the tests with ELF_PATCHER_LIBRARY_ONLY defined, which leaves out the MSBuild task.
using System;
using System.Collections.Generic;
using System.IO;
using System.Text;

namespace AgentTrainer.Build
{
    public enum ElfPatchOutcome { Patched, AlreadyWeak, VersionNotNeeded }

    public static class ElfVersionNeedPatcher
    {
        private const uint ShtGnuVerneed = 0x6ffffffe;
        private const ushort VerFlgWeak = 0x2;

        private static readonly string[] HostLibStdCxxCandidates =
        {
            "/usr/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/lib/x86_64-linux-gnu/libstdc++.so.6",
            "/usr/lib/aarch64-linux-gnu/libstdc++.so.6",
            "/usr/lib64/libstdc++.so.6",
            "/usr/lib/libstdc++.so.6",
        };

        /// <summary>True when the host's libstdc++ defines <paramref name="versionName"/>
        /// (its version-definition strings contain the NUL-terminated name).</summary>
        public static bool HostProvidesVersion(string versionName)
        {
            foreach (string candidate in HostLibStdCxxCandidates)
            {
                if (File.Exists(candidate))
                {
                    return IndexOf(File.ReadAllBytes(candidate), Encoding.ASCII.GetBytes(versionName + "\0")) >= 0;
                }
            }
            return false;
        }

        /// <summary>Flags of every version need named <paramref name="versionName"/> in an ELF64 file.</summary>
        public static IReadOnlyList<ushort> ReadVersionNeedFlags(string path, string versionName)
        {
            byte[] image = File.ReadAllBytes(path);
            var flags = new List<ushort>();
            foreach (int offset in FindVernauxFlagOffsets(image, versionName, path))
            {
                flags.Add(BitConverter.ToUInt16(image, offset));
            }
            return flags;
        }

        /// <summary>Marks the version need weak. Writes a new file and renames it over the old one,
        /// so a hard-linked copy (e.g. from the NuGet cache) is never modified in place; keeps the
        /// timestamp so incremental builds do not copy the original again.</summary>
        public static ElfPatchOutcome MarkVersionNeedWeak(string path, string versionName)
        {
            byte[] image = File.ReadAllBytes(path);
            List<int> flagOffsets = FindVernauxFlagOffsets(image, versionName, path);
            if (flagOffsets.Count == 0)
            {
                return ElfPatchOutcome.VersionNotNeeded;
            }
            bool changed = false;
            foreach (int offset in flagOffsets)
            {
                ushort flags = BitConverter.ToUInt16(image, offset);
                if ((flags & VerFlgWeak) == 0)
                {
                    WriteUInt16(image, offset, (ushort)(flags | VerFlgWeak));
                    changed = true;
                }
            }
            if (!changed)
            {
                return ElfPatchOutcome.AlreadyWeak;
            }
            DateTime lastWrite = File.GetLastWriteTimeUtc(path);
            string temporary = path + ".patching";
            File.WriteAllBytes(temporary, image);
            File.SetLastWriteTimeUtc(temporary, lastWrite);
            File.Replace(temporary, path, null); // a rename: breaks hard links instead of writing through them
            return ElfPatchOutcome.Patched;
        }

        private static List<int> FindVernauxFlagOffsets(byte[] image, string versionName, string path)
        {
            if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
            {
                throw new InvalidDataException($"{path} is not an ELF file.");
            }
            if (image[4] != 2 || image[5] != 1)
            {
                throw new InvalidDataException($"{path} is not a little-endian ELF64 file.");
            }
            long sectionTable = (long)ReadUInt64(image, 0x28, path);
            int sectionSize = ReadUInt16(image, 0x3A, path);
            int sectionCount = ReadUInt16(image, 0x3C, path);
            var result = new List<int>();
            for (int index = 0; index < sectionCount; index++)
            {
                int header = checked((int)(sectionTable + (long)index * sectionSize));
                if (ReadUInt32(image, header + 4, path) != ShtGnuVerneed)
                {
                    continue;
                }
                int sectionOffset = checked((int)ReadUInt64(image, header + 0x18, path));
                uint stringSection = ReadUInt32(image, header + 0x28, path);
                uint needCount = ReadUInt32(image, header + 0x2C, path);
                int stringHeader = checked((int)(sectionTable + (long)stringSection * sectionSize));
                int stringsOffset = checked((int)ReadUInt64(image, stringHeader + 0x18, path));

                int need = sectionOffset;
                for (uint n = 0; n < needCount; n++)
                {
                    int auxCount = ReadUInt16(image, need + 2, path);
                    int aux = need + checked((int)ReadUInt32(image, need + 8, path));
                    for (int a = 0; a < auxCount; a++)
                    {
                        int name = stringsOffset + checked((int)ReadUInt32(image, aux + 8, path));
                        if (NameEquals(image, name, versionName))
                        {
                            result.Add(aux + 4);
                        }
                        aux += checked((int)ReadUInt32(image, aux + 12, path));
                    }
                    need += checked((int)ReadUInt32(image, need + 12, path));
                }
            }
            return result;
        }

        private static bool NameEquals(byte[] image, int offset, string name)
        {
            if (offset < 0 || offset + name.Length >= image.Length)
            {
                return false;
            }
            for (int i = 0; i < name.Length; i++)
            {
                if (image[offset + i] != (byte)name[i])
                {
                    return false;
                }
            }
            return image[offset + name.Length] == 0;
        }

        private static void Require(byte[] image, int offset, int length, string path)
        {
            if (offset < 0 || offset + length > image.Length)
            {
                throw new InvalidDataException($"{path} is truncated or corrupt: offset {offset} is outside the file.");
            }
        }

        private static ushort ReadUInt16(byte[] image, int offset, string path)
        {
            Require(image, offset, 2, path);
            return BitConverter.ToUInt16(image, offset);
        }

        private static uint ReadUInt32(byte[] image, int offset, string path)
        {
            Require(image, offset, 4, path);
            return BitConverter.ToUInt32(image, offset);
        }

        private static ulong ReadUInt64(byte[] image, int offset, string path)
        {
            Require(image, offset, 8, path);
            return BitConverter.ToUInt64(image, offset);
        }

        private static void WriteUInt16(byte[] image, int offset, ushort value)
        {
            image[offset] = (byte)value;
            image[offset + 1] = (byte)(value >> 8);
        }

        // netstandard2.0 (the task factory's target) has no span search.
        private static int IndexOf(byte[] haystack, byte[] needle)
        {
            for (int start = 0; start <= haystack.Length - needle.Length; start++)
            {
                int matched = 0;
                while (matched < needle.Length && haystack[start + matched] == needle[matched])
                {
                    matched++;
                }
                if (matched == needle.Length)
                {
                    return start;
                }
            }
            return -1;
        }
    }

#if !ELF_PATCHER_LIBRARY_ONLY
    /// <summary>MSBuild task: patch each given file when the host lacks the version.</summary>
    public class MarkElfVersionNeedWeak : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Files { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

        [Microsoft.Build.Framework.Required]
        public string VersionName { get; set; } = "";

        public override bool Execute()
        {
            if (Files.Length == 0 || ElfVersionNeedPatcher.HostProvidesVersion(VersionName))
            {
                return true;
            }
            foreach (var file in Files)
            {
                string path = file.ItemSpec;
                try
                {
                    ElfPatchOutcome outcome = ElfVersionNeedPatcher.MarkVersionNeedWeak(path, VersionName);
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal,
                        $"{path}: {VersionName} need {outcome} (host libstdc++ lacks it).");
                }
                catch (Exception error) when (error is IOException || error is InvalidDataException || error is UnauthorizedAccessException)
                {
                    Log.LogError($"Could not mark {VersionName} weak in {path}: {error.Message}");
                }
            }
            return !Log.HasLoggedErrors;
        }
    }
#endif
}
