using System.Reflection;
using AgentTrainer.Core.Options;
using AgentTrainer.Training.Loops;
using TorchSharp;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Tasks;

/// <summary>Every task a run may name: the built-in ones and those registered — tasks the trainer takes the
/// steps of (<see cref="ITrainingTaskProvider"/>) and your own loops (<see cref="ITrainingLoopProvider"/>).</summary>
public sealed class TaskCatalog
{
    public static readonly TaskCatalog BuiltIn = new([], []);

    private readonly Dictionary<string, ITrainingTaskProvider> _tasks = new(StringComparer.Ordinal);
    private readonly Dictionary<string, ITrainingLoopProvider> _loops = new(StringComparer.Ordinal);

    /// <exception cref="RunOptionsException">two tasks share a name, or one takes a built-in task's</exception>
    public TaskCatalog(IEnumerable<ITrainingTaskProvider> ownTasks, IEnumerable<ITrainingLoopProvider> ownLoops)
    {
        var owners = new Dictionary<string, object>(StringComparer.Ordinal);
        void Register(string name, object provider)
        {
            if (TaskNames.All.Contains(name))
            {
                throw new RunOptionsException($"--task-assembly (Training:TaskAssembly): '{name}' is a built-in "
                    + $"task's name; give {provider.GetType().FullName} another.");
            }
            if (!owners.TryAdd(name, provider))
            {
                throw new RunOptionsException($"--task-assembly (Training:TaskAssembly): two tasks are named '{name}': "
                    + $"{owners[name].GetType().FullName} and {provider.GetType().FullName}.");
            }
        }
        foreach (ITrainingTaskProvider provider in ownTasks)
        {
            Register(provider.Name, provider);
            _tasks[provider.Name] = provider;
        }
        foreach (ITrainingLoopProvider provider in ownLoops)
        {
            Register(provider.Name, provider);
            _loops[provider.Name] = provider;
        }
    }

    public OwnTaskNames OwnNames => new([.. _tasks.Keys.Concat(_loops.Keys).Order(StringComparer.Ordinal)]);

    /// <summary>Whether the options name your own loop (<see cref="CreateLoop"/>) rather than a task
    /// (<see cref="Create"/>).</summary>
    public bool IsLoop(TrainingOptions options) => _loops.ContainsKey(options.Task);

    /// <summary>Builds the task the options name, on <paramref name="device"/>.</summary>
    public ITrainingTask Create(TrainingOptions options, Device device)
    {
        if (!_tasks.TryGetValue(options.Task, out ITrainingTaskProvider? provider))
        {
            return TrainingTaskFactory.Create(options, device);
        }
        torch.manual_seed(options.Seed);
        ITrainingTask task = provider.Create(Context(options, device));
        RefuseMisnamed(task.Name, provider.Name, provider, task);
        return task;
    }

    /// <summary>Builds your loop the options name, on <paramref name="device"/>.</summary>
    public ITrainingLoop CreateLoop(TrainingOptions options, Device device)
    {
        ITrainingLoopProvider provider = _loops[options.Task];
        torch.manual_seed(options.Seed);
        ITrainingLoop loop = provider.Create(Context(options, device));
        RefuseMisnamed(loop.Name, provider.Name, provider, loop);
        return loop;
    }

    private static TaskContext Context(TrainingOptions options, Device device) =>
        new(device, options.Seed, options.BatchSize, options.TaskSettings);

    /// <summary>What a provider built must carry its name: refused (and disposed) otherwise.</summary>
    private static void RefuseMisnamed(string builtName, string name, object provider, IDisposable built)
    {
        if (builtName == name)
        {
            return;
        }
        built.Dispose();
        throw new RunOptionsException($"--task {name}: {provider.GetType().FullName} built a task named '{builtName}'; "
            + "a task's Name must be its provider's.");
    }

    /// <summary>The task and loop providers in a built assembly: its public, concrete classes with a parameterless
    /// constructor that implement <see cref="ITrainingTaskProvider"/> or <see cref="ITrainingLoopProvider"/>.
    /// A relative path not found from the working folder is looked for beside agent-trainer (where the samples
    /// are).</summary>
    /// <exception cref="RunOptionsException">the file is missing, not a .NET assembly, or holds no task</exception>
    public static (IReadOnlyList<ITrainingTaskProvider> Tasks, IReadOnlyList<ITrainingLoopProvider> Loops) LoadAssembly(
        string path)
    {
        const string Option = "--task-assembly (Training:TaskAssembly)";
        string beside = Path.Combine(AppContext.BaseDirectory, path);
        bool asGiven = File.Exists(path) || Path.IsPathRooted(path) || !File.Exists(beside);
        string full = Path.GetFullPath(asGiven ? path : beside);
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
        ITrainingTaskProvider[] tasks = [.. Instances<ITrainingTaskProvider>(types)];
        ITrainingLoopProvider[] loops = [.. Instances<ITrainingLoopProvider>(types)];
        return tasks.Length + loops.Length > 0
            ? (tasks, loops)
            : throw new RunOptionsException($"{Option}: {full} has no public class with a parameterless constructor implementing "
                + $"{nameof(ITrainingTaskProvider)} or {nameof(ITrainingLoopProvider)}.");
    }

    private static IEnumerable<T> Instances<T>(Type[] types) => types
        .Where(t => t is { IsClass: true, IsAbstract: false } && typeof(T).IsAssignableFrom(t)
            && t.GetConstructor(Type.EmptyTypes) is not null)
        .Select(t => (T)Activator.CreateInstance(t)!);
}
