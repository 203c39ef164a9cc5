"""Train the book's GPT on one process or several: ``python -m transformer_book.scaling.train`` on
its own, or under ``torchrun`` (for example ``torchrun --standalone --nproc_per_node=2 -m
transformer_book.scaling.train --strategy ddp``). Rank 0 writes the run's record as JSON
(``--out``) and the final parameters (``--params-out``, safetensors).

Every rank draws the same permutation of the text's windows and takes its own shard of it
(``shard_indices``); step ``s`` of rank ``r`` uses its shard's rows ``s*b .. s*b + b - 1``. With
``W`` ranks of batch ``b`` a step sees exactly the rows that one process with batch ``W*b`` sees,
so the runs can be compared parameter by parameter.
"""
from __future__ import annotations

import argparse
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.distributed as dist

from transformer_book.common.validation import check_int
from transformer_book.gpt.model import GPT, GPTConfig
from transformer_book.gpt.training import make_adamw
from transformer_book.scaling.distributed import (STRATEGIES, DistributedRun, full_state_dict, init_distributed,
                                                  load_distributed_checkpoint,
                                                  optimizer_with_state, save_distributed_checkpoint, shard_indices,
                                                  wrap_model)
from transformer_book.scaling.accounting import measured_state_bytes
from transformer_book.scaling.single_device import train_step

DTYPES = {"float32": None, "bfloat16": torch.bfloat16, "float16": torch.float16}


@dataclass
class RunConfig:
    """One training run: the strategy, the steps, the batch of each rank, the model's sizes, the data
    (``random`` tokens, or the ``shakespeare`` plays by character), the autocast dtype, and the
    optional distributed checkpoint to write after step ``save_at`` or to ``resume`` from."""

    strategy: str = "none"
    steps: int = 6
    batch_per_rank: int = 4
    seq: int = 32
    n_layer: int = 2
    n_head: int = 4
    n_embd: int = 64
    lr: float = 3e-3
    seed: int = 0
    data: str = "random"
    dtype: str = "float32"
    micro_batches: int = 1
    activation_checkpointing: bool = False
    compile: bool = False
    skip_allreduce: bool = False       # DDP without its gradient all-reduce: a broken run, for the tests
    save_at: int | None = None
    checkpoint: str | None = None
    resume: str | None = None

    def __post_init__(self) -> None:
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be one of {STRATEGIES}, got {self.strategy!r}")
        for name in ("steps", "batch_per_rank", "seq", "n_layer", "n_head", "n_embd", "micro_batches"):
            check_int(name, getattr(self, name))
        if self.data not in ("random", "shakespeare"):
            raise ValueError(f"data must be 'random' or 'shakespeare', got {self.data!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}, got {self.dtype!r}")
        if (self.save_at is None) != (self.checkpoint is None):
            raise ValueError("save_at and checkpoint go together: the step after which to save, and the folder")
        if self.skip_allreduce and self.strategy != "ddp":
            raise ValueError("skip_allreduce applies to strategy='ddp' only")


def load_tokens(data: str, seed: int = 0) -> tuple[torch.Tensor, int]:
    """The token ids of the training text and the vocabulary size: 200,000 random ids of 64, or the
    plays of ``data.shakespeare`` encoded by character."""
    if data == "random":
        return torch.randint(0, 64, (200_000,), generator=torch.Generator().manual_seed(seed)), 64
    from transformer_book.data.shakespeare import load_shakespeare
    from transformer_book.gpt.training import CharTokenizer

    text = load_shakespeare()
    tokenizer = CharTokenizer(text)
    return torch.tensor(tokenizer.encode(text)), tokenizer.vocab_size


def train(config: RunConfig, run: DistributedRun | None = None) -> tuple[dict, dict[str, torch.Tensor]]:
    """Run ``config`` on this process's part of ``run`` (default: one process). Returns the record
    (mean loss of the global batch per step, step times, the bytes this rank holds) and the final
    parameters, gathered on every rank."""
    run = run or DistributedRun()
    ids, vocab_size = load_tokens(config.data, config.seed)
    n_windows = (len(ids) - 1) // config.seq
    rows = shard_indices(n_windows, run, seed=config.seed)
    if config.steps * config.batch_per_rank > len(rows):
        raise ValueError(f"{config.steps} steps of {config.batch_per_rank} rows need more than the {len(rows)} "
                         "windows of this rank's shard")
    torch.manual_seed(config.seed)
    model = GPT(GPTConfig(vocab_size=vocab_size, block_size=config.seq, n_layer=config.n_layer,
                          n_head=config.n_head, n_embd=config.n_embd)).to(run.device)
    model.set_activation_checkpointing(config.activation_checkpointing)
    wrapped = wrap_model(model, config.strategy, run)
    optimizer = make_adamw(wrapped, config.lr, fused=False)   # one implementation for every strategy
    step_of = torch.compile(wrapped) if config.compile else wrapped
    start = 0
    if config.resume:
        start = load_distributed_checkpoint(wrapped, optimizer_with_state(wrapped, optimizer), config.resume)
    offsets = torch.arange(config.seq + 1)
    record = {"config": asdict(config), "world_size": run.world_size, "threads": torch.get_num_threads(),
              "start": start, "loss": [], "step_ms": []}
    for step in range(start, config.steps):
        chosen = torch.tensor(rows[step * config.batch_per_rank:(step + 1) * config.batch_per_rank])
        windows = ids[chosen[:, None] * config.seq + offsets].to(run.device)     # (b, T + 1)
        begin = time.perf_counter()
        if config.skip_allreduce:
            with wrapped.no_sync():                       # the gradients stay each rank's own
                loss = train_step(step_of, optimizer, windows[:, :-1], windows[:, 1:], config.micro_batches,
                                  DTYPES[config.dtype])
        else:
            loss = train_step(step_of, optimizer, windows[:, :-1], windows[:, 1:], config.micro_batches,
                              DTYPES[config.dtype])
        record["step_ms"].append(1000 * (time.perf_counter() - begin))
        mean = torch.tensor([loss], device=run.device)
        if dist.is_initialized():
            dist.all_reduce(mean)
            mean /= run.world_size
        record["loss"].append(mean.item())
        if not math.isfinite(record["loss"][-1]):
            raise FloatingPointError(f"the loss became {record['loss'][-1]} at step {step}")
        if config.save_at == step + 1:
            save_distributed_checkpoint(wrapped, optimizer, step + 1, config.checkpoint)
    record["state_bytes"] = measured_state_bytes(wrapped, optimizer)
    return record, full_state_dict(wrapped)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = RunConfig()
    for name, value in asdict(defaults).items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            parser.add_argument(flag, action="store_true")
        else:
            kind = type(value) if value is not None else (int if name == "save_at" else str)
            parser.add_argument(flag, type=kind, default=value)
    parser.add_argument("--out", help="the JSON record (written by rank 0)")
    parser.add_argument("--params-out", help="the final parameters, safetensors (written by rank 0)")
    args = vars(parser.parse_args(argv))
    out, params_out = args.pop("out"), args.pop("params_out")
    run = init_distributed()
    try:
        record, params = train(RunConfig(**args), run)
        if run.is_main:
            if out:
                Path(out).write_text(json.dumps(record, indent=1))
            if params_out:
                from safetensors.torch import save_file

                save_file({name: t.contiguous() for name, t in params.items()}, params_out)
            print(json.dumps({key: record[key] for key in ("world_size", "loss", "state_bytes")}))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
