"""Training machinery every model family shares: AdamW's parameter groups, the dtype of mixed precision, and one optimizer update (backward, clip, step).
"""
from __future__ import annotations

import contextlib
from contextlib import nullcontext

import torch
from torch import nn



def weight_decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """AdamW parameter groups: ``weight_decay`` on the weight matrices and embedding tables (the
    tensors of two or more dimensions), none on the biases and LayerNorm parameters (1-D).
    A tied matrix is listed once."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},
    ]


def autocast_dtype(device: torch.device | str, amp: bool | None = None) -> torch.dtype | None:
    """The dtype for ``torch.autocast`` on ``device``, or None for plain float32.

    ``amp=None`` (automatic): bfloat16 on a CUDA GPU that supports it, float16 on an older one,
    float32 elsewhere. ``amp=True`` also turns on bfloat16 on the CPU (fast on CPUs with AVX-512
    BF16 or AMX, very slow on others). ``amp=False``: always float32.
    """
    device = torch.device(device)
    if amp is False:
        return None
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if device.type == "cpu" and amp:
        return torch.bfloat16
    if device.type == "mps" and amp:
        return torch.float16
    return None


def autocast_context(device: torch.device, dtype: torch.dtype | None) -> contextlib.AbstractContextManager:
    """``torch.autocast`` on ``device`` in ``dtype``, or a context that changes nothing for ``None``
    (the float32 of ``autocast_dtype``)."""
    return torch.autocast(device.type, dtype=dtype) if dtype is not None else nullcontext()


def optimizer_step(
    loss: torch.Tensor,
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler | None = None,
    clip_norm: float | None = None,
) -> torch.Tensor:
    """One update from ``loss``: backward (through ``scaler`` for float16), clip the gradients'
    total norm to ``clip_norm`` (None: no clipping), optimizer step. Returns the norm before clipping."""
    optimizer.zero_grad(set_to_none=True)
    if scaler is not None:
        scaler.scale(loss).backward()
        scaler.unscale_(optimizer)        # clip the true gradients, not the scaled ones
    else:
        loss.backward()
    max_norm = clip_norm if clip_norm is not None else float("inf")
    norm = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm)
    if scaler is not None:
        scaler.step(optimizer)
        scaler.update()
    else:
        optimizer.step()
    return norm
