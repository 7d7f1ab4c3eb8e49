using System.Globalization;

namespace AgentTrainer.Tests;

/// <summary>CPU time of this process's threads with a given name, from /proc (Linux): .NET gives
/// each named thread that OS name, so one thread can be measured apart from the runtime's own.</summary>
public static class ThreadCpu
{
    public static double Milliseconds(string threadName)
    {
        long ticks = 0;
        bool found = false;
        foreach (string task in Directory.GetDirectories("/proc/self/task"))
        {
            string stat;
            try
            {
                stat = File.ReadAllText(Path.Combine(task, "stat"));
            }
            catch (IOException)
            {
                continue; // the thread ended meanwhile
            }
            int open = stat.IndexOf('(', StringComparison.Ordinal), close = stat.LastIndexOf(')');
            if (stat[(open + 1)..close] != threadName)
            {
                continue;
            }
            found = true;
            string[] fields = stat[(close + 2)..].Split(' ');
            ticks += long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture); // utime + stime
        }
        return found
            ? ticks * 10.0 // USER_HZ is 100 on Linux
            : throw new InvalidOperationException($"No thread named '{threadName}' in this process.");
    }
}
