"""Doing more with one device: gradient accumulation, mixed precision and ``torch.compile`` around
one training step of a next-token model. (Activation checkpointing is a switch of the model:
``GPT.set_activation_checkpointing``.)"""
from __future__ import annotations

import shutil

import torch
import torch.nn.functional as F
from torch import nn

from transformer_book.common.training import autocast_context
from transformer_book.common.validation import check_int


def _check_batch(x: torch.Tensor, y: torch.Tensor, micro_batches: int) -> None:
    for name, t in (("x", x), ("y", y)):
        if not isinstance(t, torch.Tensor) or t.dim() != 2 or t.dtype.is_floating_point or t.dtype == torch.bool:
            raise TypeError(f"{name} must be a (B, T) tensor of token ids, got {getattr(t, 'shape', type(t).__name__)}")
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    check_int("micro_batches", micro_batches)
    if x.shape[0] % micro_batches:
        raise ValueError(f"micro_batches={micro_batches} must divide the batch of {x.shape[0]} rows")


def accumulate_gradients(model: nn.Module, x: torch.Tensor, y: torch.Tensor, micro_batches: int = 1,
                         dtype: torch.dtype | None = None, scaler: torch.amp.GradScaler | None = None) -> torch.Tensor:
    """Forward and backward of the mean next-token cross-entropy of ``model(x)`` against ``y``
    (both ``(B, T)``), in ``micro_batches`` equal slices of the rows. Each slice's loss is weighted
    by its share of the rows, so the gradients added to ``.grad`` are those of the whole batch in
    one pass, with the memory of one slice. Under ``torch.autocast`` in ``dtype`` (None: float32),
    through ``scaler`` for float16. Returns the batch's mean loss (detached)."""
    _check_batch(x, y, micro_batches)
    total = torch.zeros((), device=x.device)
    for x_part, y_part in zip(x.chunk(micro_batches), y.chunk(micro_batches)):
        with autocast_context(x.device, dtype):
            logits = model(x_part)                                        # (B / m, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y_part.flatten().long()) / micro_batches
        (scaler.scale(loss) if scaler is not None else loss).backward()
        total += loss.detach()
    return total


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               micro_batches: int = 1, dtype: torch.dtype | None = None,
               scaler: torch.amp.GradScaler | None = None, clip_norm: float | None = 1.0) -> float:
    """One update: zero the gradients, ``accumulate_gradients``, unscale (float16), clip the total
    norm to ``clip_norm`` (None: no clipping) and step. Returns the batch's mean loss."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    optimizer.zero_grad(set_to_none=True)
    loss = accumulate_gradients(model, x, y, micro_batches, dtype, scaler)
    if scaler is not None:
        scaler.unscale_(optimizer)                    # clip the true gradients, not the scaled ones
    if clip_norm is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), clip_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return loss.item()


def compiler_available() -> bool:
    """Whether ``torch.compile``'s default backend can build kernels here: on a CPU it needs a C++
    compiler on the PATH (on a GPU, Triton, which comes with CUDA builds of torch)."""
    return any(shutil.which(name) for name in ("g++", "c++", "clang++"))
