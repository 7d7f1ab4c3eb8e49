using AgentTrainer.Core.Options;
using TorchSharp;

namespace AgentTrainer.Training.Runtime;

/// <summary>Where and how libtorch runs: the device picked at run time and the CPU thread count.</summary>
public sealed record TorchRuntime(torch.Device Device, int Threads)
{
    public string Description => $"{Device.type.ToString().ToLowerInvariant()} ({Threads} threads)";

    /// <summary>Applies the settings process-wide and returns them. "auto" takes CUDA when libtorch sees a GPU.</summary>
    public static TorchRuntime Configure(string requestedDevice, int threads)
    {
        bool cudaAvailable = torch.cuda.is_available();
        torch.Device device = requestedDevice switch
        {
            DeviceNames.Cpu => torch.CPU,
            DeviceNames.Cuda when cudaAvailable => torch.CUDA,
            DeviceNames.Cuda => throw new RunOptionsException(
                "--device cuda was asked for, but libtorch sees no CUDA device. Build with -p:TorchBackend=cuda on a machine with a GPU, or use --device auto."),
            _ => cudaAvailable ? torch.CUDA : torch.CPU,
        };
        int threadCount = threads > 0 ? threads : Environment.ProcessorCount;
        torch.set_num_threads(threadCount);
        return new TorchRuntime(device, threadCount);
    }

    public static string TorchSharpVersion =>
        typeof(torch).Assembly.GetName().Version?.ToString() ?? "unknown";
}
