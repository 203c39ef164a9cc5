"""Part V's three speed comparisons on this machine, each as a ratio measured in one run:

1. one process against two ranks of DDP (``torchrun``, ``gloo``) on the same global batch: the
   single process uses ``--threads`` threads, each rank ``--threads // 2`` (the same cores in all);
2. bfloat16 autocast against float32, in one process;
3. ``torch.compile`` against eager, in one process (skipped without a C++ compiler).

The cases of each comparison alternate for ``--rounds`` rounds after a warm-up, and each reports the
median step time. Prints JSON with the thread counts, the medians and the ratios (> 1: the second
case is faster).

    .venv/bin/python benchmarks/scaling.py [--threads 2] [--rounds 3] [--steps 20]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from transformer_book.gpt.model import GPT, GPTConfig
from transformer_book.gpt.training import make_adamw
from transformer_book.scaling.single_device import compiler_available, train_step
from transformer_book.scaling.train import load_tokens

SIZES = dict(n_layer=4, n_head=4, n_embd=128)


def ddp_step_ms(steps: int, per_rank: int, threads_per_rank: int, folder: Path) -> float:
    out = folder / "ddp.json"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "transformer_book.scaling.train", "--strategy", "ddp", "--data", "shakespeare",
               "--steps", str(steps), "--batch-per-rank", str(per_rank), "--seq", "64",
               *[f"--{k.replace('_', '-')}={v}" for k, v in SIZES.items()], "--out", str(out)]
    subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": str(threads_per_rank)}, check=True,
                   capture_output=True)
    return statistics.median(json.loads(out.read_text())["step_ms"][2:])        # after two warm-up steps


def single_step_ms(steps: int, batch: int, threads: int) -> float:
    command = [sys.executable, "-m", "transformer_book.scaling.train", "--data", "shakespeare", "--steps",
               str(steps), "--batch-per-rank", str(batch), "--seq", "64",
               *[f"--{k.replace('_', '-')}={v}" for k, v in SIZES.items()]]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "single.json"
        subprocess.run([*command, "--out", str(out)], env={**os.environ, "OMP_NUM_THREADS": str(threads)},
                       check=True, capture_output=True)
        return statistics.median(json.loads(out.read_text())["step_ms"][2:])


def in_process_step_ms(model, optimizer, batches, dtype=None) -> float:
    times = []
    for x, y in batches:
        begin = time.perf_counter()
        train_step(model, optimizer, x, y, dtype=dtype)
        times.append(1000 * (time.perf_counter() - begin))
    return statistics.median(times[2:])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16, help="the global batch (sequences of 64 characters)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    result = {"threads": args.threads, "rounds": args.rounds, "steps": args.steps, "batch": args.batch,
              "model": SIZES, "cpu": torch.backends.cpu.get_cpu_capability()}

    single, ddp = [], []
    with tempfile.TemporaryDirectory() as folder:
        for _ in range(args.rounds):
            single.append(single_step_ms(args.steps, args.batch, args.threads))
            ddp.append(ddp_step_ms(args.steps, args.batch // 2, max(1, args.threads // 2), Path(folder)))
    result["ranks"] = {"one_process_ms": statistics.median(single), "two_ranks_ms": statistics.median(ddp),
                       "threads_per_rank": max(1, args.threads // 2),
                       "two_ranks_speedup": statistics.median(single) / statistics.median(ddp)}

    ids, vocab_size = load_tokens("shakespeare")
    generator = torch.Generator().manual_seed(0)
    batches = []
    for _ in range(args.steps):
        starts = torch.randint(0, len(ids) - 65, (args.batch,), generator=generator)
        w = torch.stack([ids[s:s + 65] for s in starts])
        batches.append((w[:, :-1], w[:, 1:]))
    config = GPTConfig(vocab_size=vocab_size, block_size=64, **SIZES)
    torch.manual_seed(0)
    model = GPT(config)
    optimizer = make_adamw(model, 1e-3, fused=False)
    fp32, bf16 = [], []
    for _ in range(args.rounds):
        fp32.append(in_process_step_ms(model, optimizer, batches))
        bf16.append(in_process_step_ms(model, optimizer, batches, torch.bfloat16))
    result["bfloat16"] = {"float32_ms": statistics.median(fp32), "bfloat16_ms": statistics.median(bf16),
                          "bfloat16_speedup": statistics.median(fp32) / statistics.median(bf16)}

    if compiler_available():
        compiled = torch.compile(model)
        in_process_step_ms(compiled, optimizer, batches[:3])                   # compiles
        eager, fast = [], []
        for _ in range(args.rounds):
            eager.append(in_process_step_ms(model, optimizer, batches))
            fast.append(in_process_step_ms(compiled, optimizer, batches))
        result["compile"] = {"eager_ms": statistics.median(eager), "compiled_ms": statistics.median(fast),
                             "compiled_speedup": statistics.median(eager) / statistics.median(fast)}
    else:
        result["compile"] = "skipped: no C++ compiler on the PATH"
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
