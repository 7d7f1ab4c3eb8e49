using System.Reflection;
using AgentTrainer.Core.Options;
using TorchSharp;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Tasks;

/// <summary>Every task a run may name: the built-in ones and those registered (<see cref="ITrainingTaskProvider"/>).</summary>
public sealed class TaskCatalog
{
    public static readonly TaskCatalog BuiltIn = new([]);

    private readonly Dictionary<string, ITrainingTaskProvider> _own;

    /// <exception cref="RunOptionsException">two tasks share a name, or one takes a built-in task's</exception>
    public TaskCatalog(IEnumerable<ITrainingTaskProvider> ownTasks)
    {
        _own = new Dictionary<string, ITrainingTaskProvider>(StringComparer.Ordinal);
        foreach (ITrainingTaskProvider provider in ownTasks)
        {
            if (TaskNames.All.Contains(provider.Name))
            {
                throw new RunOptionsException($"--task-assembly (Training:TaskAssembly): '{provider.Name}' is a built-in task's name; "
                    + $"give {provider.GetType().FullName} another.");
            }
            if (!_own.TryAdd(provider.Name, provider))
            {
                throw new RunOptionsException($"--task-assembly (Training:TaskAssembly): two tasks are named '{provider.Name}': "
                    + $"{_own[provider.Name].GetType().FullName} and {provider.GetType().FullName}.");
            }
        }
    }

    public OwnTaskNames OwnNames => new([.. _own.Keys.Order(StringComparer.Ordinal)]);

    /// <summary>Builds the task the options name, on <paramref name="device"/>.</summary>
    public ITrainingTask Create(TrainingOptions options, Device device)
    {
        if (!_own.TryGetValue(options.Task, out ITrainingTaskProvider? provider))
        {
            return TrainingTaskFactory.Create(options, device);
        }
        torch.manual_seed(options.Seed);
        ITrainingTask task = provider.Create(new TaskContext(device, options.Seed, options.BatchSize, options.TaskSettings));
        if (task.Name != provider.Name)
        {
            task.Dispose();
            throw new RunOptionsException($"--task {options.Task}: {provider.GetType().FullName} built a task named '{task.Name}'; "
                + "a task's Name must be its provider's.");
        }
        return task;
    }

    /// <summary>The task providers in a built assembly: its public, concrete classes with a parameterless
    /// constructor that implement <see cref="ITrainingTaskProvider"/>.</summary>
    /// <exception cref="RunOptionsException">the file is missing, not a .NET assembly, or holds no task</exception>
    public static IReadOnlyList<ITrainingTaskProvider> LoadAssembly(string path)
    {
        const string Option = "--task-assembly (Training:TaskAssembly)";
        string full = Path.GetFullPath(path);
        if (!File.Exists(full))
        {
            throw new RunOptionsException($"{Option}: {full} does not exist.");
        }
        Assembly assembly;
        try
        {
            assembly = System.Runtime.Loader.AssemblyLoadContext.Default.LoadFromAssemblyPath(full);
        }
        catch (BadImageFormatException)
        {
            throw new RunOptionsException($"{Option}: {full} is not a .NET assembly.");
        }
        Type[] types;
        try
        {
            types = assembly.GetExportedTypes();
        }
        catch (Exception error) when (error is ReflectionTypeLoadException or FileNotFoundException or FileLoadException)
        {
            throw new RunOptionsException($"{Option}: {full} cannot be loaded here ({error.Message}); build it against "
                + $"AgentTrainer.Training {typeof(TaskCatalog).Assembly.GetName().Version} and TorchSharp.");
        }
        ITrainingTaskProvider[] providers = [.. types
            .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(ITrainingTaskProvider).IsAssignableFrom(t) && t.GetConstructor(Type.EmptyTypes) is not null)
            .Select(t => (ITrainingTaskProvider)Activator.CreateInstance(t)!)];
        return providers.Length > 0
            ? providers
            : throw new RunOptionsException($"{Option}: {full} has no public class with a parameterless constructor implementing "
                + $"{nameof(ITrainingTaskProvider)}.");
    }
}
