"""The encoder layer: self-attention, then the feed-forward network, each in a residual block."""
from __future__ import annotations

import torch
from torch import nn

from transformer_book.pieces.feed_forward import PositionwiseFeedForward
from transformer_book.pieces.multi_head import MultiHeadAttention
from transformer_book.pieces.sublayers import SublayerConnection
from transformer_book.common.validation import check_int


class EncoderLayer(nn.Module):
    """One encoder layer (Vaswani et al., 2017, section 3.1). Shape ``(B, T, D)`` in and out.

    ``mask`` is boolean, ``True`` = may attend, usually ``padding_mask(tokens, pad_id)``.
    ``dropout`` is the paper's residual dropout, on each sublayer's output. ``attention_dropout``
    (on the attention weights) and ``activation_dropout`` (on the feed-forward hidden units) are
    0 in the paper; ``nn.TransformerEncoderLayer`` uses ``dropout`` for both.
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
        *,
        attention_dropout: float = 0.0,
        activation_dropout: float = 0.0,
    ) -> None:
        super().__init__()
        self.self_attention = MultiHeadAttention(d_model, num_heads, attention_dropout)
        self.feed_forward = PositionwiseFeedForward(d_model, d_ff, activation_dropout, activation)
        self.attention_block = SublayerConnection(d_model, dropout, norm_first, eps)
        self.feed_forward_block = SublayerConnection(d_model, dropout, norm_first, eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = self.attention_block(x, lambda h: self.self_attention(h, h, h, mask))
        return self.feed_forward_block(x, self.feed_forward)


class LayerStack(nn.Module):
    """``N`` copies of a layer (made by ``layer_factory``), then an optional final LayerNorm.

    ``final_norm`` adds a LayerNorm after the last layer. A pre-norm stack needs it (its
    residual stream is never normalised otherwise); the paper's post-norm stack does not, but
    ``nn.Transformer`` adds one in both orders, so it is a separate switch.
    """

    def __init__(self, layer_factory, num_layers: int, d_model: int, final_norm: bool, eps: float = 1e-5) -> None:
        super().__init__()
        if not callable(layer_factory):
            raise TypeError(f"layer_factory must be a function that makes a layer, got {type(layer_factory).__name__}")
        check_int("num_layers", num_layers)
        self.layers = nn.ModuleList(layer_factory() for _ in range(num_layers))
        self.norm = nn.LayerNorm(d_model, eps=eps) if final_norm else nn.Identity()


class Encoder(LayerStack):
    """A stack of encoder layers. Shape ``(B, S, D)`` in and out; ``mask`` is the source padding."""

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)
