#!/usr/bin/python3
"""The built-in char-lm, in plain PyTorch: a trainer to copy.

The same GPT-style model as AgentTrainer's (token and position embeddings, pre-norm blocks of causal
self-attention and a GELU MLP, a final layer norm and a linear head; GPT-2 initialisation), the same corpus
(Debian's fortunes, read as AgentTrainer reads it, split 90/10), batch, context, AdamW, cosine schedule and
global-norm clipping. Written for Debian's torch 1.13, which has no fused attention: it is written out.

With --server it trains under AgentTrainer (the trainer protocol, through clients/python/agenttrainer.py):
start a host that waits for trainers, then the trainer (the host's API token: $AGENTTRAINER_TOKEN, else the file
the host wrote at its first start).

    /usr/bin/python3 clients/python/examples/train_charlm.py --steps 600 --threads 2
    ./agent-trainer run --remote true --agent rules --out runs/remote
    /usr/bin/python3 clients/python/examples/train_charlm.py --server http://127.0.0.1:7007 --name spike \
        --fault lr-spike:step=300,factor=50
    # killed? the same command with --resume continues it from its last checkpoint as the run's next session
"""
import argparse
import logging
import math
import os
import random
import sys
import time

# torch's own threads do the parallel work; OpenBLAS's pool beside them oversubscribes the cores (measured on
# 2 cores: 167 ms/step with both, 94 ms/step with OpenBLAS single-threaded). Set before torch loads OpenBLAS.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
import agenttrainer  # noqa: E402


def read_corpus(path):
    """The text of a file, or of every text file of a folder sorted by name (as AgentTrainer's TextCorpus)."""
    def text_of(file, strict):
        with open(file, "rb") as handle:
            data = handle.read()
        if b"\0" in data:
            if strict:
                sys.exit(f"{file} is not a text file (it holds NUL bytes).")
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            if strict:
                sys.exit(f"{file} is not valid UTF-8 text.")
            return None

    if os.path.isdir(path):
        parts = []
        for name in sorted(os.listdir(path)):
            file = os.path.join(path, name)
            if name.endswith(".dat") or os.path.islink(file) or not os.path.isfile(file):
                continue
            content = text_of(file, strict=False)
            if content is not None:
                parts.append(content + "\n")
        text = "".join(parts)
    elif os.path.isfile(path):
        text = text_of(path, strict=True)
    else:
        sys.exit(f"The text corpus was not found: {path} does not exist (apt-get install fortunes).")
    return text.replace("\n%\n", "\n\n")


class Block(nn.Module):
    def __init__(self, width, heads):
        super().__init__()
        self.heads = heads
        self.attention_norm = nn.LayerNorm(width)
        self.qkv = nn.Linear(width, 3 * width)
        self.attention_output = nn.Linear(width, width)
        self.mlp_norm = nn.LayerNorm(width)
        self.mlp_in = nn.Linear(width, 4 * width)
        self.mlp_out = nn.Linear(4 * width, width)

    def forward(self, x):
        batch, length, width = x.shape
        q, k, v = self.qkv(self.attention_norm(x)).chunk(3, dim=-1)
        q, k, v = (t.view(batch, length, self.heads, width // self.heads).transpose(1, 2) for t in (q, k, v))
        scores = (q @ k.transpose(-2, -1)) / math.sqrt(width // self.heads)
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        attended = scores.masked_fill(~causal, float("-inf")).softmax(dim=-1) @ v
        x = x + self.attention_output(attended.transpose(1, 2).contiguous().view(batch, length, width))
        return x + self.mlp_out(F.gelu(self.mlp_in(self.mlp_norm(x))))


class CharGpt(nn.Module):
    def __init__(self, vocabulary, context, width, layers, heads):
        super().__init__()
        self.token_embedding = nn.Embedding(vocabulary, width)
        self.position_embedding = nn.Embedding(context, width)
        for index in range(layers):
            self.add_module(f"block{index}", Block(width, heads))
        self.layers = layers
        self.final_norm = nn.LayerNorm(width)
        self.head = nn.Linear(width, vocabulary)
        self.apply(self.reset_gpt_style)

    @staticmethod
    def reset_gpt_style(module):
        """GPT-2's scheme: N(0, 0.02) for linear and embedding weights, zero biases, unit layer norms."""
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, 0.0, 0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)
        if isinstance(module, nn.LayerNorm):
            module.reset_parameters()

    def forward(self, tokens):
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        x = self.token_embedding(tokens) + self.position_embedding(positions)
        for index in range(self.layers):
            x = getattr(self, f"block{index}")(x)
        return self.head(self.final_norm(x))


class CharData:
    """Training windows at random offsets drawn from (seed, position): the same position gives the same batch,
    so a checkpoint's data position is one number and a rollback replays the same batches."""

    def __init__(self, text, context, batch, seed):
        vocabulary = sorted(set(text))
        index = {c: i for i, c in enumerate(vocabulary)}
        tokens = torch.tensor([index[c] for c in text], dtype=torch.long)
        split = int(len(tokens) * 0.9)
        self.train, self.validation = tokens[:split], tokens[split:]
        self.vocabulary, self.context, self.batch, self.seed = len(vocabulary), context, batch, seed
        self.position = 0

    def next(self):
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.position)
        starts = torch.randint(0, len(self.train) - self.context - 1, (self.batch,), generator=generator)
        windows = torch.stack([self.train[s:s + self.context + 1] for s in starts.tolist()])
        self.position += 1
        return windows[:, :-1], windows[:, 1:]

    def seek(self, position):
        self.position = position

    def validation_batches(self, max_batches=0):
        count = (len(self.validation) - 1) // self.context
        windows = self.validation[:count * self.context + 1]
        inputs = windows[:-1].view(count, self.context)
        targets = windows[1:].view(count, self.context)
        batches = range(0, count, self.batch)
        for number, first in enumerate(batches):
            if max_batches and number >= max_batches:
                return
            yield inputs[first:first + self.batch], targets[first:first + self.batch]


def evaluate(model, data, max_batches=0):
    model.eval()
    total, count = 0.0, 0
    with torch.no_grad():
        for inputs, targets in data.validation_batches(max_batches):
            logits = model(inputs)
            total += F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1), reduction="sum").item()
            count += targets.numel()
    model.train()
    return total / count


def cosine(step, steps, warmup=0):
    """AgentTrainer's schedule as a multiplier on the base lr (never below 1e-3)."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(max((step - warmup) / max(1, steps - warmup), 0.0), 1.0)
    return max(1e-3, 0.5 * (1 + math.cos(math.pi * progress)))


def parse_fault(text):
    """lr-spike:step=S,factor=F"""
    kind, _, rest = text.partition(":")
    if kind != "lr-spike":
        raise argparse.ArgumentTypeError(f"only lr-spike faults are known here; got '{kind}'.")
    values = dict(part.split("=", 1) for part in rest.split(",") if "=" in part)
    try:
        return int(values["step"]), float(values.get("factor", "10"))
    except (KeyError, ValueError):
        raise argparse.ArgumentTypeError(f"give lr-spike:step=S,factor=F; got '{text}'.")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", default="/usr/share/games/fortunes")
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--grad-clip", type=float, default=1.0)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--context", type=int, default=64)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--layers", type=int, default=2)
    parser.add_argument("--heads", type=int, default=4)
    parser.add_argument("--eval-every", type=int, default=100)
    parser.add_argument("--eval-batches", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--threads", type=int, default=max(1, os.cpu_count() or 1))
    parser.add_argument("--fault", type=parse_fault, action="append", default=[])
    parser.add_argument("--server", help="an AgentTrainer host (run --remote) to train under; none: train alone")
    parser.add_argument("--name", default="charlm-pytorch", help="the run's name on the host")
    parser.add_argument("--checkpoints", default="checkpoints/charlm-pytorch", help="where checkpoints are written")
    parser.add_argument("--resume", action="store_true", help="continue the run from its last checkpoint")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    random.seed(args.seed)
    data = CharData(read_corpus(args.text), args.context, args.batch_size, args.seed)
    model = CharGpt(data.vocabulary, args.context, args.width, args.layers, args.heads)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    print(f"char-lm in PyTorch {torch.__version__}: {sum(p.numel() for p in model.parameters()):,} parameters, "
          f"{args.threads} threads", flush=True)

    def validation_loss():
        loss = evaluate(model, data, args.eval_batches)
        print(f"val_loss {loss:.4f} after {data.position} batches", flush=True)
        return {"val_loss": loss}

    run = agenttrainer.Run(
        args.server, name=args.name, model=model, optimizer=optimizer,
        steps=args.steps, evaluate=validation_loss, checkpoint_dir=args.checkpoints if args.server else None,
        data_state=(lambda: data.position, data.seek), skip_data=lambda batches: data.seek(data.position + batches),
        schedule=lambda step: cosine(step, args.steps),
        grad_clip=args.grad_clip, reset_module=lambda module: module.apply(CharGpt.reset_gpt_style), task="char-lm",
        seed=args.seed, resume=args.resume, eval_every=None if args.server else args.eval_every)
    faults = dict(args.fault)
    started, trained = time.perf_counter(), 0
    while run.continues:
        if run.step_number in faults:  # each fault strikes once, even when a rollback passes its step again
            factor = faults.pop(run.step_number)
            run.learning_rate *= factor
            print(f"fault at step {run.step_number}: lr-spike, lr x{factor:g}", flush=True)
        inputs, targets = data.next()
        logits = model(inputs)
        loss = F.cross_entropy(logits.view(-1, logits.shape[-1]), targets.reshape(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), run.grad_clip or math.inf)
        if math.isfinite(loss.item()) and math.isfinite(grad_norm.item()):
            optimizer.step()  # a non-finite step is reported, never trained through
        run.step(loss.item(), grad_norm=grad_norm.item(), samples=args.batch_size)
        trained += 1  # a rollback's steps are trained again: they count
    elapsed = time.perf_counter() - started
    # The model handed back is measured on the whole validation split (the periodic evaluations use a part).
    handed_back = run.finish(evaluate=lambda: {"val_loss": evaluate(model, data)}, split="the whole validation split")
    print(f"done: {trained} steps trained in {elapsed:.1f} s ({1000 * elapsed / max(1, trained):.1f} ms/step); "
          f"final {agenttrainer.describe(handed_back)}", flush=True)


if __name__ == "__main__":
    main()
