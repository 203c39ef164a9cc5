"""A short training run of each model family on the best device there is, with mixed precision.

What a reader on Colab or a GPU wants to know first: does the book's code run on this machine,
in which precision, and how fast. The script prints one JSON line per measurement, then a table:

- ``environment``: torch's version, the device's name, its CUDA capability, whether it supports
  bfloat16, the dtype ``training.autocast_dtype`` picks for it, TF32 and the torch thread count;
- ``train_step``, once per model family (the encoder-decoder of ``make_model``, BERT's masked-LM
  ``BertForMaskedLM``, the ``GPT``) and precision: a few warm-up steps, then ``--steps`` timed
  training steps (``torch.cuda.synchronize`` on both sides of the clock) on one fixed batch, with
  steps per second, tokens per second (input tokens: source plus target for the translator), the
  loss of the first and last step, the peak GPU memory. Each step is the package's loss
  (``label_smoothed_loss``, ``mlm_loss``, next-token cross-entropy as in ``gpt_training.train_step``)
  under ``torch.autocast``, backward (through a ``GradScaler`` where the dtype is float16), gradient
  clipping and the family's optimizer (``training.make_optimizer``, ``bert_pretraining.make_adamw``,
  ``gpt_training.make_adamw``).

On CUDA each family runs in float32 and in the autocast dtype, at a modest size (width 256, 4
layers, batch 32, 128 tokens), and the speed-up of mixed precision is reported; the first step's
loss must agree between the two (the same weights and batch). Without CUDA it runs float32 only, at
a tiny size (``--amp`` adds bfloat16), and says so. It fails (exit status 1) if a loss is not finite
or does not fall. One round per case: a check that the device works and a first look at its speed,
not a careful benchmark (see the other scripts for those).

    python benchmarks/gpu_check.py [--device cuda] [--steps 20] [--threads 2] [--amp]
"""
from __future__ import annotations

import argparse
import json
import math
import sys
import time
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

from transformer_book.encoder_decoder.batching import BOS_ID, EOS_ID, collate
from transformer_book.bert.model import BertConfig, BertForMaskedLM
from transformer_book.bert.pretraining import make_adamw as bert_adamw
from transformer_book.bert.pretraining import mask_tokens, mlm_loss
from transformer_book.gpt.model import GPT, GPTConfig
from transformer_book.gpt.training import make_adamw as gpt_adamw
from transformer_book.encoder_decoder.model import make_model
from transformer_book.common.training import autocast_dtype, optimizer_step
from transformer_book.encoder_decoder.training import label_smoothed_loss, make_optimizer
from transformer_book.common.utils import count_parameters, pick_device


@dataclass(frozen=True)
class Size:
    width: int
    layers: int
    heads: int
    batch: int
    seq: int
    vocab: int


GPU_SIZE = Size(width=256, layers=4, heads=4, batch=32, seq=128, vocab=8000)
CPU_SIZE = Size(width=64, layers=2, heads=4, batch=8, seq=32, vocab=500)


def dtype_name(dtype: torch.dtype | None) -> str:
    return "float32" if dtype is None else str(dtype).removeprefix("torch.")


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def environment(device: torch.device) -> dict:
    info = {
        "kind": "environment",
        "torch": torch.__version__,
        "python": sys.version.split()[0],
        "device": str(device),
        "cuda_available": torch.cuda.is_available(),
        "threads": torch.get_num_threads(),
        "autocast_dtype": dtype_name(autocast_dtype(device)),
    }
    if device.type == "cuda":
        properties = torch.cuda.get_device_properties(device)
        info.update({
            "device_name": torch.cuda.get_device_name(device),
            "capability": ".".join(map(str, torch.cuda.get_device_capability(device))),
            "memory_gib": round(properties.total_memory / 2**30, 1),
            "cuda": torch.version.cuda,
            "cudnn": torch.backends.cudnn.version(),
            "bf16_supported": torch.cuda.is_bf16_supported(),
            "tf32_matmul": torch.backends.cuda.matmul.allow_tf32,
            "float32_matmul_precision": torch.get_float32_matmul_precision(),
        })
    else:
        info.update({"device_name": "CPU", "capability": None, "bf16_supported": None})
    return info


# ---------------------------------------------------------------------------------------------
# One model family each: (model, loss of the fixed batch, optimizer, tokens per step)
# ---------------------------------------------------------------------------------------------
def translator(size: Size, device: torch.device):
    torch.manual_seed(0)
    model = make_model(size.vocab, N=size.layers, d_model=size.width, d_ff=4 * size.width, h=size.heads,
                       dropout=0.1).to(device)
    generator = torch.Generator().manual_seed(1)
    length = size.seq // 2 - 1                 # source and target of seq/2 tokens each, EOS/BOS included
    pairs = []
    for _ in range(size.batch):                # a copy task: the target is the source
        tokens = torch.randint(4, size.vocab, (length,), generator=generator).tolist()
        pairs.append((tokens + [EOS_ID], [BOS_ID] + tokens + [EOS_ID]))
    batch = collate(pairs).to(device)

    def loss() -> torch.Tensor:
        logits = model(batch.src, batch.tgt_in)                              # (B, T, V)
        return label_smoothed_loss(logits, batch.tgt_out, 0.1, model.pad_id)

    tokens = batch.src.numel() + batch.tgt_in.numel()
    return model, loss, make_optimizer(model, lr=5e-4), tokens


def bert(size: Size, device: torch.device):
    torch.manual_seed(0)
    config = BertConfig(vocab_size=size.vocab, hidden_size=size.width, num_hidden_layers=size.layers,
                        num_attention_heads=size.heads, intermediate_size=4 * size.width,
                        max_position_embeddings=size.seq)
    model = BertForMaskedLM(config).to(device)
    generator = torch.Generator().manual_seed(1)
    ids = torch.randint(5, size.vocab, (size.batch, size.seq), generator=generator)
    ids[:, 0], ids[:, -1] = 2, 3                                             # [CLS] ... [SEP]
    inputs, labels = mask_tokens(ids, size.vocab, generator=generator)
    inputs, labels = inputs.to(device), labels.to(device)

    def loss() -> torch.Tensor:
        return mlm_loss(model, inputs, labels)

    return model, loss, bert_adamw(model, lr=1e-3), ids.numel()


def gpt(size: Size, device: torch.device):
    torch.manual_seed(0)
    config = GPTConfig(vocab_size=size.vocab, block_size=size.seq, n_layer=size.layers, n_head=size.heads,
                       n_embd=size.width, dropout=0.1)
    model = GPT(config).to(device)
    tokens = torch.randint(0, size.vocab, (size.batch, size.seq + 1), generator=torch.Generator().manual_seed(1))
    x, y = tokens[:, :-1].to(device), tokens[:, 1:].to(device)

    def loss() -> torch.Tensor:          # the loss of gpt_training.train_step
        logits = model(x)                                                    # (B, T, V)
        return F.cross_entropy(logits.flatten(0, 1), y.flatten())

    return model, loss, gpt_adamw(model, lr=1e-3), x.numel()


FAMILIES: dict[str, Callable] = {"translator": translator, "bert": bert, "gpt": gpt}


def time_training(name: str, size: Size, device: torch.device, dtype: torch.dtype | None,
                  warmup: int, steps: int) -> dict:
    model, loss_of_batch, optimizer, tokens = FAMILIES[name](size, device)
    model.train()
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    cast = (lambda: torch.autocast(device.type, dtype=dtype)) if dtype is not None else nullcontext

    def step() -> torch.Tensor:
        with cast():
            loss = loss_of_batch()
        optimizer_step(loss, model, optimizer, scaler, clip_norm=1.0)
        return loss.detach()

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    losses = [step() for _ in range(warmup)]       # the first steps: kernel selection, allocations
    synchronize(device)
    start = time.perf_counter()
    losses += [step() for _ in range(steps)]
    synchronize(device)
    seconds = time.perf_counter() - start
    values = torch.stack(losses).float().tolist()
    result = {
        "kind": "train_step",
        "model": name,
        "device": str(device),
        "autocast": dtype_name(dtype),
        "grad_scaler": scaler is not None,
        "parameters": count_parameters(model),
        "batch": size.batch,
        "seq": size.seq,
        "width": size.width,
        "layers": size.layers,
        "warmup_steps": warmup,
        "steps": steps,
        "seconds": round(seconds, 4),
        "ms_per_step": round(1000 * seconds / steps, 2),
        "steps_per_s": round(steps / seconds, 2),
        "tokens_per_s": round(tokens * steps / seconds),
        "loss_first": round(values[0], 4),
        "loss_last": round(values[-1], 4),
        "finite": all(math.isfinite(v) for v in values),
    }
    if device.type == "cuda":
        result["peak_memory_mib"] = round(torch.cuda.max_memory_allocated(device) / 2**20, 1)
    return result


def table(rows: list[dict]) -> str:
    header = (f"{'model':<11} {'autocast':<9} {'params':>11} {'ms/step':>9} {'steps/s':>8} {'tokens/s':>10} "
              f"{'loss first->last':>17}")
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['model']:<11} {row['autocast']:<9} {row['parameters']:>11,} {row['ms_per_step']:>9.2f} "
            f"{row['steps_per_s']:>8.2f} {row['tokens_per_s']:>10,} {row['loss_first']:>8.3f}->{row['loss_last']:<8.3f}"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default=None, help="cuda, cpu, ... (default: transformer_book.common.utils.pick_device)")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per run (default: 20 on CUDA, 10 elsewhere)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed steps first (default: 3 on CUDA, 2 elsewhere)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--amp", action="store_true",
                        help="on the CPU too: add bfloat16 autocast (slow on CPUs without AVX-512 BF16 or AMX)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = pick_device(args.device)
    if device.type not in ("cuda", "cpu"):
        print(f"{device.type} is not checked here: using the CPU")
        device = torch.device("cpu")
    on_cuda = device.type == "cuda"
    size = GPU_SIZE if on_cuda else CPU_SIZE
    steps = args.steps or (20 if on_cuda else 10)
    warmup = args.warmup if args.warmup is not None else (3 if on_cuda else 2)
    if steps < 2:
        parser.error("--steps must be at least 2")

    begin = time.perf_counter()
    print(json.dumps(environment(device)), flush=True)
    amp = autocast_dtype(device, amp=True if args.amp else None)
    precisions = [None, amp] if amp is not None else [None]
    rows, failures = [], []
    for name in FAMILIES:
        by_precision = {}
        for dtype in precisions:
            row = time_training(name, size, device, dtype, warmup, steps)
            rows.append(row)
            by_precision[row["autocast"]] = row
            print(json.dumps(row), flush=True)
            if not row["finite"]:
                failures.append(f"{name} ({row['autocast']}): the loss is not finite")
            elif not row["loss_last"] < row["loss_first"]:
                failures.append(f"{name} ({row['autocast']}): the loss did not fall "
                                f"({row['loss_first']} -> {row['loss_last']})")
        if amp is not None:
            full, mixed = by_precision["float32"], by_precision[dtype_name(amp)]
            agreement = abs(mixed["loss_first"] - full["loss_first"]) / full["loss_first"]
            summary = {"kind": "mixed_precision", "model": name, "autocast": dtype_name(amp),
                       "speedup": round(full["seconds"] / mixed["seconds"], 2),
                       "first_loss_relative_difference": round(agreement, 5)}
            print(json.dumps(summary), flush=True)
            if agreement > 0.02:
                failures.append(f"{name}: the first loss under {dtype_name(amp)} differs from "
                                f"float32's by {agreement:.1%}")
    seconds = time.perf_counter() - begin
    print()
    print(table(rows))
    if not on_cuda:
        print(f"CUDA not available: ran the CPU path only ({', '.join(map(dtype_name, precisions))}, tiny sizes)")
    print(json.dumps({"kind": "done", "device": str(device), "seconds": round(seconds, 1),
                      "runs": len(rows), "failures": failures}))
    for failure in failures:
        print(f"FAILED: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
