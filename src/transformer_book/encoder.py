"""The encoder layer: self-attention, then the feed-forward network, each in a residual block."""
from __future__ import annotations

import torch
from torch import nn

from .feed_forward import PositionwiseFeedForward
from .multi_head import MultiHeadAttention
from .sublayers import SublayerConnection


class EncoderLayer(nn.Module):
    """One encoder layer (Vaswani et al., 2017, section 3.1). Shape ``(B, T, D)`` in and out.

    ``mask`` is boolean, ``True`` = may attend, usually ``padding_mask(tokens, pad_id)``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.1,
        norm_first: bool = False,
        activation: str = "relu",
        eps: float = 1e-5,
    ) -> None:
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, num_heads, dropout)
        self.feed_forward = PositionwiseFeedForward(d_model, d_ff, dropout, activation)
        self.attention_block = SublayerConnection(d_model, dropout, norm_first, eps)
        self.feed_forward_block = SublayerConnection(d_model, dropout, norm_first, eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.attention_block(x, lambda h: self.self_attention(h, h, h, mask))
        return self.feed_forward_block(x, self.feed_forward)
