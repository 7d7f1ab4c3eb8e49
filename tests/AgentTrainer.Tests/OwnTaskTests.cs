using System.Net.Http.Json;
using System.Text.Json;
using AgentTrainer.Core.Metrics;
using AgentTrainer.Core.Records;
using AgentTrainer.Samples.FashionAutoencoder;
using AgentTrainer.Tests.ControlPlane;
using AgentTrainer.Training.Tasks;
using Microsoft.Extensions.DependencyInjection;
using TorchSharp;

namespace AgentTrainer.Tests;

/// <summary>Your own TorchSharp task under the agent: the sample (a Fashion-MNIST autoencoder, not a
/// built-in task) loaded from its built assembly by the command line, and registered through DI.</summary>
public sealed class OwnTaskTests : IDisposable
{
    private const int FaultStep = 200;
    private readonly string _folder = TestFolders.Create("own-task");
    private static readonly string SampleAssembly = Path.Combine(AppContext.BaseDirectory, "AgentTrainer.Samples.FashionAutoencoder.dll");

    public void Dispose() => TestFolders.Delete(_folder);

    private Task<string> Train(string name, params string[] more) =>
        SpikeReplay.TrainAsync(Path.Combine(_folder, name), SampleAssembly, FashionAutoencoderProvider.TaskName, more);

    [Fact]
    public async Task The_sample_task_rolls_back_an_lr_spike_under_the_rules_agent_and_replays_the_healthy_run_bit_for_bit()
    {
        string healthy = await Train("healthy");
        string faulty = await Train("faulty", "--fault", $"lr-spike:step={FaultStep},factor=50");
        SpikeReplay.AssertRolledBackAndReplayed(healthy, faulty, FaultStep, brokenBy: 3, window: 40);
    }

    [Fact]
    public async Task A_task_registered_through_DI_runs_in_the_host_with_its_layers_in_the_API()
    {
        using var factory = new ControlPlaneFactory(
            new() { ["Training:Task"] = FashionAutoencoderProvider.TaskName, ["Training:TaskSettings:code-size"] = "16" },
            web => web.Services.AddTrainingTask<FashionAutoencoderProvider>());
        _ = factory.Run;
        using HttpClient client = factory.CreateAuthorizedClient();
        JsonElement run = await client.GetFromJsonAsync<JsonElement>("/api/run");
        Assert.Equal(FashionAutoencoderProvider.TaskName, run.GetProperty("task").GetString());
        Assert.Contains("encoder_out", run.GetProperty("layers").EnumerateArray().Select(l => l.GetString()));
        var model = (TorchSharp.Modules.Sequential)((Training.TrainingRun)factory.Run.Run).Model;
        Assert.Equal(16, ((TorchSharp.Modules.Linear)model.named_children().Single(c => c.name == "encoder_out").module).out_features);
    }

    [Theory]
    [InlineData("missing.dll", "does not exist.")]
    [InlineData("AgentTrainer.Core.dll", "has no public class with a parameterless constructor implementing ITrainingTaskProvider or ITrainingLoopProvider.")]
    public async Task An_unusable_task_assembly_is_refused_with_exit_2_naming_it(string file, string problem)
    {
        string path = Path.Combine(AppContext.BaseDirectory, file);
        (int exit, _, string error) = await AgentTrainerProcess.RunAsync(
            ["run", "--task-assembly", path, "--task", "x", "--api", "false", "--out", Path.Combine(_folder, "refused")]);
        Assert.Equal(2, exit);
        Assert.Contains($"error: --task-assembly (Training:TaskAssembly): {path} {problem}", error, StringComparison.Ordinal);
        Assert.False(Directory.Exists(Path.Combine(_folder, "refused")));
    }

    [Fact]
    public async Task An_unknown_task_lists_the_own_tasks_and_a_model_option_for_one_is_refused()
    {
        (int exit, _, string error) = await AgentTrainerProcess.RunAsync(
            ["run", "--task-assembly", SampleAssembly, "--task", "fashion-autoencodr", "--api", "false", "--out", Path.Combine(_folder, "a")]);
        Assert.Equal(2, exit);
        Assert.Contains("'fashion-autoencodr' is not one of fashion-mnist, char-lm, synthetic, fashion-autoencoder.", error, StringComparison.Ordinal);

        (exit, _, error) = await AgentTrainerProcess.RunAsync(["run", "--task-assembly", SampleAssembly, "--task", FashionAutoencoderProvider.TaskName,
            "--model", "cnn", "--api", "false", "--out", Path.Combine(_folder, "b")]);
        Assert.Equal(2, exit);
        Assert.Contains("--model (Training:Model) chooses a built-in task's model; 'fashion-autoencoder' builds its own.", error, StringComparison.Ordinal);
    }

    [Fact]
    public void A_task_the_trainer_must_corrupt_itself_gets_scaled_inputs_and_targets_of_other_examples_the_same_each_time()
    {
        using TorchSharp.torch.Tensor input = TorchSharp.torch.arange(12, dtype: TorchSharp.torch.float32).reshape(4, 3);
        using TorchSharp.torch.Tensor target = TorchSharp.torch.arange(4, dtype: TorchSharp.torch.int64);
        (TorchSharp.torch.Tensor badInput, TorchSharp.torch.Tensor badTarget) = Training.Trainer.BatchCorruption.Corrupt((input, target), seed: 1, position: 7);
        (_, TorchSharp.torch.Tensor again) = Training.Trainer.BatchCorruption.Corrupt((input, target), seed: 1, position: 7);
        using TorchSharp.Scalar scale = 25.0f.ToScalar();
        Assert.Equal(input.mul(scale).data<float>().ToArray(), badInput.data<float>().ToArray());
        Assert.NotEqual(target.data<long>().ToArray(), badTarget.data<long>().ToArray());
        Assert.Equal([0L, 1, 2, 3], badTarget.data<long>().ToArray().Order());
        Assert.Equal(badTarget.data<long>().ToArray(), again.data<long>().ToArray());
    }
}
