using TorchSharp;
using TorchSharp.Modules;
using AgentTrainer.Training.Runtime;
using static TorchSharp.torch;

namespace AgentTrainer.Training.Models;

/// <summary>A small GPT-style decoder: token and position embeddings, pre-norm blocks of causal
/// self-attention and a GELU MLP, a final layer norm and a linear head. Top-level modules:
/// token_embedding, position_embedding, block0..blockN, final_norm, head.</summary>
public sealed class CharGpt : nn.Module<Tensor, Tensor>
{
#pragma warning disable IDE1006 // field names are the module names users see
    private readonly Embedding token_embedding;
    private readonly Embedding position_embedding;
    private readonly LayerNorm final_norm;
    private readonly Linear head;
#pragma warning restore IDE1006
    private readonly DecoderBlock[] _blocks;

    public CharGpt(int vocabulary, int contextLength, int embedding, int layers, int heads)
        : base(nameof(CharGpt))
    {
        token_embedding = nn.Embedding(vocabulary, embedding);
        position_embedding = nn.Embedding(contextLength, embedding);
        _blocks = [.. Enumerable.Range(0, layers).Select(_ => new DecoderBlock(embedding, heads))];
        final_norm = nn.LayerNorm(embedding);
        head = nn.Linear(embedding, vocabulary);
        RegisterComponents();
        for (int index = 0; index < _blocks.Length; index++)
        {
            register_module($"block{index}", _blocks[index]);
        }
        ParameterInit.ResetGptStyle(this);
    }

    public override Tensor forward(Tensor tokens)
    {
        long length = tokens.shape[1];
        using Scalar end = length.ToScalar();
        using Tensor positions = torch.arange(Scalars.Zero, end, Scalars.One, ScalarType.Int64, tokens.device);
        Tensor x = token_embedding.forward(tokens).add(position_embedding.forward(positions), Scalars.One);
        foreach (DecoderBlock block in _blocks)
        {
            x = block.forward(x);
        }
        return head.forward(final_norm.forward(x));
    }

    private sealed class DecoderBlock : nn.Module<Tensor, Tensor>
    {
#pragma warning disable IDE1006
        private readonly LayerNorm attention_norm;
        private readonly Linear qkv;
        private readonly Linear attention_output;
        private readonly LayerNorm mlp_norm;
        private readonly Linear mlp_in;
        private readonly Linear mlp_out;
#pragma warning restore IDE1006
        private readonly int _heads;

        public DecoderBlock(int embedding, int heads)
            : base(nameof(DecoderBlock))
        {
            _heads = heads;
            attention_norm = nn.LayerNorm(embedding);
            qkv = nn.Linear(embedding, 3 * embedding);
            attention_output = nn.Linear(embedding, embedding);
            mlp_norm = nn.LayerNorm(embedding);
            mlp_in = nn.Linear(embedding, 4 * embedding);
            mlp_out = nn.Linear(4 * embedding, embedding);
            RegisterComponents();
        }

        public override Tensor forward(Tensor x)
        {
            long batch = x.shape[0], length = x.shape[1], width = x.shape[2];
            Tensor[] qkvParts = qkv.forward(attention_norm.forward(x)).chunk(3, dim: -1);
            Tensor Heads(Tensor t) => t.view(batch, length, _heads, width / _heads).transpose(1, 2);
            Tensor attended = nn.functional.scaled_dot_product_attention(
                Heads(qkvParts[0]), Heads(qkvParts[1]), Heads(qkvParts[2]), is_casual: true);
            // Residual sums as add(.., Scalars.One): 'a + b' would pass libtorch a temporary alpha (see Scalars).
            x = x.add(attention_output.forward(attended.transpose(1, 2).contiguous().view(batch, length, width)), Scalars.One);
            return x.add(mlp_out.forward(nn.functional.gelu(mlp_in.forward(mlp_norm.forward(x)))), Scalars.One);
        }
    }
}
