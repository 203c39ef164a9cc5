"""Training on several processes with ``torch.distributed``: the process group from ``torchrun``'s
environment, each rank's shard of the data (``DistributedSampler``), the model wrapped for
data-parallel (``DistributedDataParallel``) or sharded (FSDP2, ``fully_shard``) training, the
memory each rank holds, and distributed checkpoints (``torch.distributed.checkpoint``) that any
number of processes can resume.

The same code runs on one process (no ``torchrun``: nothing is initialised), on CPU processes over
``gloo`` and on GPUs over ``nccl``: only ``init_distributed`` looks at the hardware.
"""
from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DistributedSampler

from transformer_book.common.validation import check_int
from transformer_book.scaling.accounting import measured_state_bytes

STRATEGIES = ("none", "ddp", "fsdp")


@dataclass(frozen=True)
class DistributedRun:
    """Where this process stands: its ``rank`` among ``world_size`` processes, its ``local_rank``
    on this machine, its ``device`` and the ``backend`` of the process group (None: one process)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")
    backend: str | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def init_distributed(backend: str | None = None, device: str | None = None) -> DistributedRun:
    """Join the process group that ``torchrun`` set up (it exports ``RANK``, ``WORLD_SIZE``,
    ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT``), or return a one-process run when started
    without it. ``backend`` defaults to ``nccl`` with CUDA and ``gloo`` without; ``device`` to
    ``cuda:LOCAL_RANK`` with CUDA, else ``cpu``."""
    if "WORLD_SIZE" not in os.environ:
        chosen = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
        return DistributedRun(device=chosen)
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    cuda = torch.cuda.is_available() and device != "cpu"
    chosen = torch.device(device or (f"cuda:{local_rank}" if cuda else "cpu"))
    if chosen.type == "cuda":
        torch.cuda.set_device(chosen)
    backend = backend or ("nccl" if chosen.type == "cuda" else "gloo")
    if not dist.is_initialized():
        dist.init_process_group(backend)
    return DistributedRun(dist.get_rank(), dist.get_world_size(), local_rank, chosen, backend)


def shard_indices(n_examples: int, run: DistributedRun, seed: int = 0, epoch: int = 0) -> list[int]:
    """The example indices of ``run``'s rank for one epoch: a permutation of ``range(n_examples)``
    (the same on every rank, drawn from ``seed`` and ``epoch``) dealt out in turn, so the ranks'
    shards are disjoint and of equal size (the last ``n_examples % world_size`` are dropped)."""
    check_int("n_examples", n_examples)
    if n_examples < run.world_size:
        raise ValueError(f"n_examples={n_examples} is fewer than the {run.world_size} ranks")
    sampler = DistributedSampler(range(n_examples), num_replicas=run.world_size, rank=run.rank,
                                 shuffle=True, seed=seed, drop_last=True)
    sampler.set_epoch(epoch)
    return list(sampler)


def wrap_model(model: nn.Module, strategy: str, run: DistributedRun) -> nn.Module:
    """``model`` (already on ``run.device``) ready for ``strategy``: "none" as it is, "ddp" in
    ``DistributedDataParallel`` (a full copy per rank; gradients averaged by an all-reduce during
    the backward pass), "fsdp" sharded by FSDP2: each of ``model.blocks`` and then the whole model
    passed to ``fully_shard``, so each rank keeps 1/world_size of every parameter, gradient and
    optimizer moment and gathers a block's parameters only while it computes with them."""
    if strategy not in STRATEGIES:
        raise ValueError(f"strategy must be one of {STRATEGIES}, got {strategy!r}")
    if strategy != "none" and not dist.is_initialized():
        raise RuntimeError(f"strategy={strategy!r} needs a process group: start with torchrun")
    if strategy == "ddp":
        from torch.nn.parallel import DistributedDataParallel

        return DistributedDataParallel(model, device_ids=[run.device.index] if run.device.type == "cuda" else None)
    if strategy == "fsdp":
        from torch.distributed.fsdp import fully_shard

        for block in model.blocks:
            fully_shard(block)
        fully_shard(model)
    return model


def _local(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.to_local() if hasattr(tensor, "to_local") else tensor      # a DTensor's shard on this rank


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """The whole model's parameters as ordinary CPU tensors, on every rank (gathered from the shards
    for FSDP2; DDP's ``module.`` prefix removed). Collective: every rank must call it."""
    from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict

    if dist.is_initialized():
        state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, broadcast_from_rank0=False))
    else:
        state = model.state_dict()
    return {name.removeprefix("module."): _local(t).detach().cpu().clone() for name, t in state.items()}


def save_distributed_checkpoint(model: nn.Module, optimizer: torch.optim.Optimizer, step: int,
                                folder: str | os.PathLike) -> None:
    """Write the model, the optimizer and ``step`` to ``folder`` with ``torch.distributed.checkpoint``:
    each rank writes its own shards in parallel, and a metadata file records how they fit together,
    so the checkpoint can be loaded by any number of processes. Collective."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict

    model_state, optimizer_state = get_state_dict(model, optimizer)
    dcp.save({"model": model_state, "optimizer": optimizer_state, "step": torch.tensor(step)},
             checkpoint_id=str(folder))


def load_distributed_checkpoint(model: nn.Module, optimizer: torch.optim.Optimizer,
                                folder: str | os.PathLike) -> int:
    """Load what ``save_distributed_checkpoint`` wrote into ``model`` and ``optimizer``, resharded
    for however many processes run now (one process needs no process group), and return the step.
    The optimizer must already hold its state (one step taken, or ``optimizer_with_state``)."""
    import torch.distributed.checkpoint as dcp
    from torch.distributed.checkpoint.state_dict import get_state_dict, set_state_dict

    if not (Path(folder) / ".metadata").is_file():
        raise FileNotFoundError(f"{folder} holds no distributed checkpoint (no .metadata file)")
    model_state, optimizer_state = get_state_dict(model, optimizer)
    state = {"model": model_state, "optimizer": optimizer_state, "step": torch.tensor(0)}
    with warnings.catch_warnings():   # one process without a process group is what we mean: no warning
        warnings.filterwarnings("ignore", message="torch.distributed is disabled")
        dcp.load(state, checkpoint_id=str(folder))
    set_state_dict(model, optimizer, model_state_dict=state["model"], optim_state_dict=state["optimizer"])
    return int(state["step"])


def optimizer_with_state(model: nn.Module, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
    """``optimizer`` with its per-parameter state created by a step of zero gradients at learning
    rate 0 (the parameters do not change), so that a checkpoint can be loaded into it."""
    lrs = [group["lr"] for group in optimizer.param_groups]
    for group in optimizer.param_groups:
        group["lr"] = 0.0
    for p in model.parameters():
        if p.requires_grad:
            p.grad = torch.zeros_like(p)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    for group, lr in zip(optimizer.param_groups, lrs):
        group["lr"] = lr
    return optimizer
