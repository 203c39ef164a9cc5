"""Dropout (Srivastava et al., 2014), written out in two lines.

While training, each number is kept with probability ``1 - p`` and the kept ones are scaled by
``1 / (1 - p)``, so that the expected value of every output equals its input; in evaluation mode
dropout does nothing. ``nn.Dropout`` computes the same function. This version draws its mask
from uniform noise (kept where a uniform draw is ``>= p``), which on a CPU is faster than PyTorch's
Bernoulli sampler (``benchmarks/train_throughput.py`` measures a whole training step).
"""
from __future__ import annotations

import torch
from torch import nn

from transformer_book.common.validation import check_probability


def _check_probability(p: float) -> None:
    check_probability("dropout probability p", p)   # nn.Dropout accepts 1.0, which would zero everything


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``x`` with each number zeroed with probability ``p`` and the rest scaled by ``1 / (1 - p)``
    (any shape; ``x`` itself when not ``training`` or when ``p == 0``). The mask comes from
    PyTorch's global random generator, so ``torch.manual_seed`` makes it repeatable.
    Refused: ``p`` outside [0, 1) or not a number, ``x`` not a tensor, and an integer or boolean
    ``x`` while it would be dropped (its ``1 / (1 - p)`` scale would be rounded away)."""
    _check_probability(p)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"dropout expects a tensor x, got {type(x).__name__}")
    if not training or p == 0.0:
        return x
    if not (x.is_floating_point() or x.is_complex()):
        raise TypeError(f"dropout needs a floating-point x to scale the kept values, got {x.dtype}")
    noise = torch.rand(x.shape, device=x.device)                  # uniform in [0, 1), float32
    keep_scaled = noise.ge_(p).to(x.dtype).mul_(1.0 / (1.0 - p))   # 0 or 1 / (1 - p)
    return x * keep_scaled


class Dropout(nn.Dropout):
    """``nn.Dropout(p)`` with the mask of ``dropout`` (same ``p`` attribute; never in place)."""

    def __init__(self, p: float = 0.5) -> None:
        _check_probability(p)
        super().__init__(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return dropout(x, self.p, self.training)
