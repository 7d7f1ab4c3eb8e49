using System.Diagnostics;
using System.Text;

namespace AgentTrainer.Tests;

/// <summary>Runs the real agent-trainer command (the built CLI beside the tests) as a child process.
/// Its API listens on a free loopback port with the tests' token, so processes never collide.</summary>
public sealed class AgentTrainerProcess : IDisposable
{
    public const string Token = ControlPlane.ControlPlaneFactory.Token;

    private readonly Process _process;
    private readonly StringBuilder _stdout = new();
    private readonly StringBuilder _stderr = new();
    private readonly TaskCompletionSource _outputClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly TaskCompletionSource _errorClosed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public AgentTrainerProcess(IEnumerable<string> arguments, IDictionary<string, string>? environment = null)
        : this("dotnet", [Path.Combine(AppContext.BaseDirectory, "agent-trainer.dll"), .. arguments], HostEnvironment(environment))
    {
    }

    /// <summary>A free loopback port and the tests' token, then the caller's settings.</summary>
    private static Dictionary<string, string> HostEnvironment(IDictionary<string, string>? more)
    {
        var environment = new Dictionary<string, string>
        {
            ["AGENTTRAINER_ControlPlane__Urls"] = "http://127.0.0.1:0",
            ["AGENTTRAINER_ControlPlane__Token"] = Token,
        };
        foreach ((string key, string value) in more ?? new Dictionary<string, string>())
        {
            environment[key] = value;
        }
        return environment;
    }

    /// <summary>Another program (a PyTorch trainer), with its output collected the same way.</summary>
    public AgentTrainerProcess(string executable, IEnumerable<string> arguments, IDictionary<string, string> environment)
    {
        var start = new ProcessStartInfo(executable)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = AppContext.BaseDirectory,
        };
        foreach (string argument in arguments)
        {
            start.ArgumentList.Add(argument);
        }
        foreach ((string key, string value) in environment)
        {
            start.Environment[key] = value;
        }
        _process = new Process { StartInfo = start };
        _process.OutputDataReceived += (_, line) => Append(_stdout, line.Data, _outputClosed);
        _process.ErrorDataReceived += (_, line) => Append(_stderr, line.Data, _errorClosed);
        _process.Start();
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    public int Id => _process.Id;

    public string Output
    {
        get { lock (_stdout) { return _stdout.ToString(); } }
    }

    public static async Task<(int ExitCode, string Output, string Error)> RunAsync(IEnumerable<string> arguments, IDictionary<string, string>? environment = null)
    {
        using var process = new AgentTrainerProcess(arguments, environment);
        return await process.WaitAsync(TimeSpan.FromMinutes(2));
    }

    public async Task<(int ExitCode, string Output, string Error)> WaitAsync(TimeSpan timeout)
    {
        using var cancellation = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cancellation.Token);
        await Task.WhenAll(_outputClosed.Task, _errorClosed.Task).WaitAsync(cancellation.Token);
        lock (_stderr)
        {
            return (_process.ExitCode, Output, _stderr.ToString());
        }
    }

    /// <summary>The API's address, from the line the host logs once it listens.</summary>
    public async Task<Uri> ApiAddressAsync()
    {
        const string marker = "listening on ";
        DateTime deadline = DateTime.UtcNow.AddSeconds(60);
        while (DateTime.UtcNow < deadline && !_process.HasExited)
        {
            string output = Output;
            int at = output.IndexOf(marker, StringComparison.Ordinal);
            if (at >= 0)
            {
                string rest = output[(at + marker.Length)..];
                return new Uri(rest[..rest.IndexOfAny([' ', '\n'])]);
            }
            await Task.Delay(50);
        }
        throw new TimeoutException("The process never said where its API listens:\n" + Output);
    }

    public void Signal(string signal)
    {
        using var kill = Process.Start("kill", ["-" + signal, _process.Id.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        kill.WaitForExit();
    }

    public void Dispose()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
        }
        _process.Dispose();
    }

    private static void Append(StringBuilder buffer, string? line, TaskCompletionSource closed)
    {
        if (line is null)
        {
            closed.TrySetResult();
            return;
        }
        lock (buffer)
        {
            buffer.AppendLine(line);
        }
    }
}
