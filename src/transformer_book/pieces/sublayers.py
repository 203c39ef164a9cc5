"""Residual connections with layer normalisation, in both orders."""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from transformer_book.pieces.dropout import Dropout
from transformer_book.common.validation import check_int


class SublayerConnection(nn.Module):
    """Wraps a sublayer (attention or feed-forward) with a residual connection and a LayerNorm.

    * post-norm (the paper, ``norm_first=False``): ``LayerNorm(x + Dropout(sublayer(x)))``
    * pre-norm (GPT-2 and most models since, ``norm_first=True``): ``x + Dropout(sublayer(LayerNorm(x)))``
    """

    def __init__(
        self, d_model: int, dropout: float = 0.0, norm_first: bool = False, eps: float = 1e-5, bias: bool = True
    ) -> None:
        super().__init__()
        check_int("d_model", d_model)
        self.norm = nn.LayerNorm(d_model, eps=eps, bias=bias)   # bias=False: a gain but no shift
        self.dropout = Dropout(dropout)
        self.norm_first = norm_first

    def extra_repr(self) -> str:
        return f"norm_first={self.norm_first}"

    def forward(self, x: torch.Tensor, sublayer: Callable[[torch.Tensor], torch.Tensor]) -> torch.Tensor:
        if self.norm_first:
            return x + self.dropout(sublayer(self.norm(x)))
        return self.norm(x + self.dropout(sublayer(x)))
