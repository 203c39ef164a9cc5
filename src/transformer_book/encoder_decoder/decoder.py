"""The decoder: masked self-attention, cross-attention to the encoder, feed-forward."""
from __future__ import annotations

import torch
from torch import nn

from transformer_book.encoder_decoder.encoder import LayerStack
from transformer_book.pieces.feed_forward import PositionwiseFeedForward
from transformer_book.pieces.multi_head import MultiHeadAttention
from transformer_book.pieces.sublayers import SublayerConnection


class DecoderLayer(nn.Module):
    """One decoder layer (Vaswani et al., 2017, section 3.1). Shape ``(B, T, D)`` in and out.

    1. masked self-attention over the target prefix (``tgt_mask``: causal and padding);
    2. cross-attention: the QUERIES come from the decoder (``x``), the KEYS and VALUES from the
       encoder output (``memory``, ``(B, S, D)``; ``memory_mask``: the source padding);
    3. the position-wise feed-forward network.

    ``dropout`` is the paper's residual dropout, on each sublayer's output. ``attention_dropout``
    (on the attention weights) and ``activation_dropout`` (on the feed-forward hidden units) are
    0 in the paper; ``nn.TransformerDecoderLayer`` uses ``dropout`` for both.
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
        self.cross_attention = MultiHeadAttention(d_model, num_heads, attention_dropout)
        self.feed_forward = PositionwiseFeedForward(d_model, d_ff, activation_dropout, activation)
        self.self_attention_block = SublayerConnection(d_model, dropout, norm_first, eps)
        self.cross_attention_block = SublayerConnection(d_model, dropout, norm_first, eps)
        self.feed_forward_block = SublayerConnection(d_model, dropout, norm_first, eps)

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        x = self.self_attention_block(x, lambda h: self.self_attention(h, h, h, tgt_mask))
        x = self.cross_attention_block(x, lambda h: self.cross_attention(h, memory, memory, memory_mask))
        return self.feed_forward_block(x, self.feed_forward)


class Decoder(LayerStack):
    """A stack of decoder layers. Shape ``(B, T, D)`` in and out; ``memory`` is ``(B, S, D)``."""

    def forward(
        self,
        x: torch.Tensor,
        memory: torch.Tensor,
        tgt_mask: torch.Tensor | None = None,
        memory_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, memory, tgt_mask, memory_mask)
        return self.norm(x)
