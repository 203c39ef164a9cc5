"""The position-wise feed-forward network (Vaswani et al., 2017, section 3.3)."""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from transformer_book.pieces.dropout import Dropout
from transformer_book.common.validation import check_int

ACTIVATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,                                        # the paper
    "gelu": F.gelu,                                        # BERT
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),  # GPT-2
}


class PositionwiseFeedForward(nn.Module):
    """``FFN(x) = W2 act(W1 x + b1) + b2``, the same two-layer network at every position.

    Shape ``(B, T, d_model)`` in and out, with ``d_ff`` hidden units in between. ``d_model`` and
    ``d_ff`` must be positive integers (``d_ff=0`` would silently output ``b2`` alone); ``forward``
    refuses inputs whose last dimension is not ``d_model`` or that are not floating point.
    """

    def __init__(
        self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu", bias: bool = True
    ) -> None:
        super().__init__()
        check_int("d_model", d_model)
        check_int("d_ff", d_ff)
        if not isinstance(activation, str) or activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {activation!r}")
        self.linear1 = nn.Linear(d_model, d_ff, bias=bias)   # bias=False: no b1, b2 (as in nanoGPT)
        self.linear2 = nn.Linear(d_ff, d_model, bias=bias)
        self.dropout = Dropout(dropout)
        self.activation = activation

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(
                f"PositionwiseFeedForward expects a floating-point tensor x of shape (..., d_model), got "
                f"{x.dtype if isinstance(x, torch.Tensor) else type(x).__name__}"
            )
        if x.dim() == 0 or x.shape[-1] != self.linear1.in_features:
            raise ValueError(
                f"x must have d_model={self.linear1.in_features} features in its last dimension, "
                f"got shape {tuple(x.shape)}"
            )
        hidden = ACTIVATIONS[self.activation](self.linear1(x))   # (B, T, d_ff)
        return self.linear2(self.dropout(hidden))                # (B, T, D)
