"""The decoder: masked self-attention, cross-attention to the encoder, feed-forward; and its
key-value cache, for decoding one token at a time."""
from __future__ import annotations

import torch
from torch import nn

from transformer_book.encoder_decoder.encoder import LayerStack
from transformer_book.common.validation import check_int
from transformer_book.pieces.attention import hide_masked_keys
from transformer_book.pieces.masks import causal_mask
from transformer_book.pieces.feed_forward import PositionwiseFeedForward
from transformer_book.pieces.multi_head import MultiHeadAttention
from transformer_book.pieces.sublayers import SublayerConnection


class LayerCache:
    """One decoder layer's keys and values, for ``N`` target prefixes (rows).

    ``cross_keys``, ``cross_values``: the cross-attention's projections of the encoder output,
    ``(N, h, S, d_k)`` each, computed once per sentence, with the padding's keys and values zeroed
    (``hide_masked_keys``). ``self_keys``, ``self_values``: the self-attention's projections of every
    target position so far, ``(N, h, t, d_k)`` each (``None`` before the first step), grown by ``append``.
    """

    def __init__(self, cross_keys: torch.Tensor, cross_values: torch.Tensor) -> None:
        self.cross_keys, self.cross_values = cross_keys, cross_values
        self.self_keys: torch.Tensor | None = None
        self.self_values: torch.Tensor | None = None

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the new positions' keys and values ``(N, h, T, d_k)``; return all of them ``(N, h, t + T, d_k)``."""
        if self.self_keys is None:
            self.self_keys, self.self_values = k, v
        else:
            self.self_keys = torch.cat([self.self_keys, k], dim=2)
            self.self_values = torch.cat([self.self_values, v], dim=2)
        return self.self_keys, self.self_values

    def select(self, rows: torch.Tensor, cross: bool = True) -> None:
        """Keep the rows ``rows`` ``(M,)`` (indices into the current ``N``), in that order; a row may
        repeat. ``cross=False`` leaves the cross-attention's rows as they are (they are already right
        when every new row reads the same sentence as the old row in its place)."""
        if cross:
            self.cross_keys, self.cross_values = self.cross_keys[rows], self.cross_values[rows]
        if self.self_keys is not None:
            self.self_keys, self.self_values = self.self_keys[rows], self.self_values[rows]


class DecoderCache:
    """What the decoder has computed for ``N`` target prefixes, so that a step runs on new tokens only.

    ``layers[l]`` is layer ``l``'s ``LayerCache``; ``memory_mask`` ``(N, 1, 1, S)`` the source
    padding; ``sources`` ``(N,)`` the source sentence each row translates; ``length`` the number of
    target positions cached (the position of the next token). ``Decoder.start_cache`` makes one and
    ``Decoder.step`` extends it. ``select(rows)`` keeps some rows: the sentences still decoding, or
    the beams that survive.
    """

    def __init__(self, layers: list[LayerCache], memory_mask: torch.Tensor, sources: torch.Tensor) -> None:
        self.layers, self.memory_mask, self.sources, self.length = layers, memory_mask, sources, 0

    @property
    def rows(self) -> int:
        """How many prefixes the cache holds (``N``)."""
        return self.sources.shape[0]

    def select(self, rows: torch.Tensor) -> None:
        """Keep the rows ``rows`` ``(M,)`` of every tensor, in that order (a row may repeat). The
        encoder side is copied only when some row's sentence changes (beams reordered within their
        sentences keep it)."""
        if not isinstance(rows, torch.Tensor) or rows.dim() != 1 or rows.is_floating_point() or rows.dtype == torch.bool:
            raise TypeError(f"rows must be a 1-D tensor of integer row indices, got "
                            f"{getattr(rows, 'dtype', type(rows).__name__)} {tuple(getattr(rows, 'shape', ()))}")
        if rows.numel() and not 0 <= int(rows.min()) <= int(rows.max()) < self.rows:
            raise IndexError(f"rows must lie in [0, {self.rows}), got {rows.min().item()}..{rows.max().item()}")
        sources = self.sources[rows]
        cross = not torch.equal(sources, self.sources)
        for layer in self.layers:
            layer.select(rows, cross)
        if cross:
            self.memory_mask, self.sources = self.memory_mask[rows], sources


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

    def step(self, x: torch.Tensor, cache: LayerCache, memory_mask: torch.Tensor) -> torch.Tensor:
        """``forward`` for the ``T`` newest target positions ``x`` ``(N, T, D)`` only: the keys and
        values of the earlier positions and of the encoder output come from ``cache``, and the new
        positions' own are appended to it. New query ``i`` may see cached keys and new keys ``<= i``."""
        past = 0 if cache.self_keys is None else cache.self_keys.shape[2]
        new = x.shape[1]
        self_mask = None if new == 1 else causal_mask(past + new, device=x.device)[None, None, past:]

        def self_attention(h: torch.Tensor) -> torch.Tensor:
            k, v = cache.append(*self.self_attention.project_keys_values(h, h))       # (N, h, past + T, d_k)
            return self.self_attention.attend(h, k, v, self_mask)

        def cross_attention(h: torch.Tensor) -> torch.Tensor:
            return self.cross_attention.attend(h, cache.cross_keys, cache.cross_values, memory_mask, keys_hidden=True)

        x = self.self_attention_block(x, self_attention)
        x = self.cross_attention_block(x, cross_attention)
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

    def start_cache(self, memory: torch.Tensor, memory_mask: torch.Tensor, repeats: int = 1) -> DecoderCache:
        """An empty cache for decoding from ``memory`` ``(B, S, D)`` (``memory_mask``: its ``(B, 1, 1, S)``
        padding): every layer's cross-attention keys and values, computed here once per sentence.
        ``repeats``: prefixes per sentence (the beams), so the cache has ``N = B * repeats`` rows,
        row ``b * repeats + k`` for prefix ``k`` of sentence ``b``."""
        check_int("repeats", repeats)
        layers = []
        for layer in self.layers:
            k, v = hide_masked_keys(memory_mask, *layer.cross_attention.project_keys_values(memory, memory))
            layers.append(LayerCache(k.repeat_interleave(repeats, dim=0), v.repeat_interleave(repeats, dim=0)))
        sources = torch.arange(memory.shape[0], device=memory.device).repeat_interleave(repeats)
        return DecoderCache(layers, memory_mask.repeat_interleave(repeats, dim=0), sources)

    def step(self, x: torch.Tensor, cache: DecoderCache) -> torch.Tensor:
        """``forward`` for the ``T`` newest target positions ``x`` ``(N, T, D)``, with ``cache``
        holding the earlier ones (it grows by ``T``). Returns their states ``(N, T, D)``."""
        if not isinstance(cache, DecoderCache):
            raise TypeError(f"cache must be a DecoderCache (Decoder.start_cache makes one), got {type(cache).__name__}")
        if x.dim() != 3 or x.shape[0] != cache.rows:
            raise ValueError(f"x must be (N={cache.rows}, T, D), the rows of the cache, got {tuple(x.shape)}")
        for layer, layer_cache in zip(self.layers, cache.layers):
            x = layer.step(x, layer_cache, cache.memory_mask)
        cache.length += x.shape[1]
        return self.norm(x)
