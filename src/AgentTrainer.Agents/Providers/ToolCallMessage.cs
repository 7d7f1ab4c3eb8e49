using AgentTrainer.Agents.Tools;
using Microsoft.SemanticKernel;
using Microsoft.SemanticKernel.ChatCompletion;

namespace AgentTrainer.Agents.Providers;

/// <summary>An assistant message carrying one call of a training tool: what the embedded models answer.</summary>
public static class ToolCallMessage
{
    public static ChatMessageContent Create(string modelId, string callId, string tool, IEnumerable<KeyValuePair<string, string?>> arguments)
    {
        var kernelArguments = new KernelArguments();
        foreach ((string name, string? value) in arguments)
        {
            kernelArguments[name] = value;
        }
        var message = new ChatMessageContent(AuthorRole.Assistant, content: null, modelId);
        message.Items.Add(new FunctionCallContent(tool, InterventionTools.PluginName, callId, kernelArguments));
        return message;
    }
}
