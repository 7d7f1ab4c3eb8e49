using Microsoft.Extensions.DependencyInjection;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Tasks;

/// <summary>What your task is built from: the run's device, its seed (the model is built right after
/// <c>torch.manual_seed(Seed)</c>, so its initial weights follow the seed), the batch size asked for (0: your
/// task's own default) and your task's own settings (<c>Training:TaskSettings:KEY</c>, or
/// <c>--task-setting KEY=VALUE</c>).</summary>
public sealed record TaskContext(Device Device, int Seed, int BatchSize, IReadOnlyDictionary<string, string> Settings);

/// <summary>Your training task, registered under a name: <c>--task NAME</c> builds it through
/// <see cref="Create"/>. Register it with <see cref="OwnTaskServices.AddTrainingTask{TProvider}"/> in your own
/// host, or put it in a built assembly and run <c>agent-trainer run --task-assembly PATH --task NAME</c>
/// (any public class with a parameterless constructor implementing this interface is found).</summary>
public interface ITrainingTaskProvider
{
    /// <summary>The name <c>--task</c> gives; not one of the built-in tasks'.</summary>
    string Name { get; }

    /// <summary>Loads the data and builds the model on <see cref="TaskContext.Device"/>. Throw
    /// <see cref="Core.Options.RunOptionsException"/> for a setting you cannot use (exit code 2, your message).</summary>
    ITrainingTask Create(TaskContext context);
}

public static class OwnTaskServices
{
    /// <summary>Registers your task for a host that runs AgentTrainer (see <see cref="ITrainingTaskProvider"/>).</summary>
    public static IServiceCollection AddTrainingTask<TProvider>(this IServiceCollection services)
        where TProvider : class, ITrainingTaskProvider =>
        services.AddSingleton<ITrainingTaskProvider, TProvider>();

    public static IServiceCollection AddTrainingTask(this IServiceCollection services, ITrainingTaskProvider provider) =>
        services.AddSingleton(provider);

    /// <summary>Registers your own loop for a host that runs AgentTrainer (see
    /// <see cref="Loops.ITrainingLoopProvider"/>).</summary>
    public static IServiceCollection AddTrainingLoop<TProvider>(this IServiceCollection services)
        where TProvider : class, Loops.ITrainingLoopProvider =>
        services.AddSingleton<Loops.ITrainingLoopProvider, TProvider>();

    public static IServiceCollection AddTrainingLoop(
        this IServiceCollection services, Loops.ITrainingLoopProvider provider) =>
        services.AddSingleton(provider);
}
