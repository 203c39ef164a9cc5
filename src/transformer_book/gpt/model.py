"""A GPT-2-style decoder-only language model (Radford et al., 2019), with a key-value cache.

The model is the decoder of chapter 9 without cross-attention, in the pre-norm order, with learned
positions, the tanh approximation of GELU, and an output head tied to the token embedding:

    h_0 = TokenEmbedding(ids) + PositionEmbedding(0..T-1)
    h_l = h_{l-1} + Attention(LayerNorm(h_{l-1}))        (causal: position t sees 0..t)
    h_l = h_l + FFN(LayerNorm(h_l))
    logits = LayerNorm(h_L) E^T                           (E: the token embedding matrix)

Shapes: token ids ``(B, T)``, states ``(B, T, D)``, logits ``(B, T, V)``; each head works on
``(B, H, T, d_k)`` with ``d_k = D / H``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.utils.checkpoint
import torch.nn.functional as F
from torch import nn

from transformer_book.pieces.attention import scaled_dot_product_attention
from transformer_book.pieces.embeddings import LearnedPositionalEncoding
from transformer_book.pieces.feed_forward import ACTIVATIONS, PositionwiseFeedForward
from transformer_book.pieces.sublayers import SublayerConnection
from transformer_book.common.validation import (check_bool, check_float_dtype, check_int, check_number,
    check_token_ids)


@dataclass(frozen=True)
class GPTConfig:
    """The sizes of a GPT. The defaults are GPT-2 small's (124M parameters)."""

    vocab_size: int = 50257
    block_size: int = 1024        # the longest context: the number of learned positions
    n_layer: int = 12
    n_head: int = 12
    n_embd: int = 768             # D, the width of the residual stream
    dropout: float = 0.0          # GPT-2 trained with 0.1 on embeddings, attention and residuals
    activation: str = "gelu_tanh"  # GPT-2's "gelu_new"; "gelu" is the exact GELU
    eps: float = 1e-5             # LayerNorm epsilon
    bias: bool = True             # biases in the Linear layers and LayerNorms (nanoGPT: False)
    init_std: float = 0.02        # std of the initial weights; GPT-2's 0.02 suits its width of 768

    def __post_init__(self) -> None:
        """Sizes must be positive ints (not bools or floats), ``dropout`` in [0, 1), ``eps`` and
        ``init_std`` finite and > 0, ``bias`` a bool."""
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_embd"):
            check_int(name, getattr(self, name))
        if self.n_embd % self.n_head:
            raise ValueError(f"n_embd={self.n_embd} must be divisible by n_head={self.n_head}")
        if not 0.0 <= check_number("dropout", self.dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("eps", "init_std"):
            if not check_number(name, getattr(self, name)) > 0.0:
                raise ValueError(f"{name} must be positive, got {getattr(self, name)}")
        check_bool("bias", self.bias)
        if not isinstance(self.activation, str) or self.activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(ACTIVATIONS)}, got {self.activation!r}")

    @property
    def n_kv_head(self) -> int:
        """Key-value heads: as many as query heads (Part IV's decoder shares them among groups)."""
        return self.n_head

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


class LayerCache:
    """One layer's cached keys and values, ``(B, H, max_len, d_k)`` each, filled up to ``length``.

    The buffers are allocated once; ``update`` writes the new positions in place and returns views
    of everything cached so far, so a step costs no copy of the past.
    """

    def __init__(self, batch: int, heads: int, max_len: int, d_k: int, dtype: torch.dtype,
                 device: torch.device | str | None = None) -> None:
        for name, value in (("batch", batch), ("heads", heads), ("max_len", max_len), ("d_k", d_k)):
            check_int(name, value)
        check_float_dtype("dtype", dtype)
        self.keys = torch.empty(batch, heads, max_len, d_k, dtype=dtype, device=device)
        self.values = torch.empty_like(self.keys)
        self.length = 0

    def update(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Append ``k`` and ``v`` ``(B, H, T, d_k)``; return all keys and values ``(B, H, length, d_k)``."""
        self._check(k, v)
        start, stop = self.length, self.length + k.shape[2]
        if k.shape[0] != self.keys.shape[0] or stop > self.keys.shape[2]:
            raise ValueError(
                f"the cache holds batch {self.keys.shape[0]} and {self.keys.shape[2]} positions; "
                f"cannot add {tuple(k.shape)} after {start} positions"
            )
        self.keys[:, :, start:stop] = k
        self.values[:, :, start:stop] = v
        self.length = stop
        return self.keys[:, :, :stop], self.values[:, :, :stop]

    def _check(self, k: torch.Tensor, v: torch.Tensor) -> None:
        heads, d_k = self.keys.shape[1], self.keys.shape[3]
        if not isinstance(k, torch.Tensor) or not isinstance(v, torch.Tensor) or k.shape != v.shape \
                or k.dim() != 4 or k.shape[1] != heads or k.shape[3] != d_k:
            raise ValueError(f"k and v must be tensors of the same shape (batch, heads={heads}, new, d_k={d_k}), "
                             f"got {getattr(k, 'shape', type(k).__name__)} and {getattr(v, 'shape', type(v).__name__)}")


DECODER_CONFIG_FIELDS = ("vocab_size", "block_size", "n_layer", "n_kv_head", "head_dim")


def check_decoder_config(config: object) -> None:
    """Raise TypeError unless ``config`` describes a decoder whose cache ``KVCache`` can hold: a
    ``GPTConfig`` or Part IV's ``LlamaConfig`` (anything with ``DECODER_CONFIG_FIELDS``)."""
    missing = [name for name in DECODER_CONFIG_FIELDS if not hasattr(config, name)]
    if missing:
        raise TypeError(f"config must be a GPTConfig or a LlamaConfig, got {type(config).__name__} "
                        f"without {missing}")


class KVCache:
    """The key-value cache of a whole model: one ``LayerCache`` per layer, all of the same length,
    each with the config's ``n_kv_head`` heads of ``head_dim`` numbers."""

    def __init__(self, config: GPTConfig, batch: int, max_len: int | None = None,
                 dtype: torch.dtype = torch.float32, device: torch.device | str | None = None) -> None:
        check_decoder_config(config)
        check_int("batch", batch)
        max_len = config.block_size if max_len is None else check_int("max_len", max_len)
        if not 1 <= max_len <= config.block_size:
            raise ValueError(f"max_len must be in [1, block_size={config.block_size}], got {max_len}")
        self.layers = [LayerCache(batch, config.n_kv_head, max_len, config.head_dim, dtype, device)
                       for _ in range(config.n_layer)]
        self.max_len = max_len

    @property
    def length(self) -> int:
        """How many positions are cached (the position of the next token)."""
        return self.layers[0].length


class CausalSelfAttention(nn.Module):
    """Masked multi-head self-attention, with the query, key and value projections in one matrix.

    ``w_qkv`` computes ``[Q | K | V]`` in one ``(D, 3D)`` matrix product (GPT-2's ``c_attn``);
    ``w_o`` mixes the heads (``c_proj``). Shape ``(B, T, D)`` in and out. With a ``LayerCache``
    the new keys and values are appended to those of the earlier positions, and the ``T`` new
    queries attend to all ``past + T`` keys. ``fused=False`` runs the book's step-by-step attention
    (chapter 5) instead of ``F.scaled_dot_product_attention``: the same numbers, more slowly.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        check_int("d_model", d_model)
        check_int("num_heads", num_heads)
        if not 0.0 <= check_number("dropout", dropout) < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        check_bool("bias", bias)
        if d_model % num_heads:
            raise ValueError(f"d_model={d_model} must be divisible by num_heads={num_heads}")
        self.d_model, self.num_heads, self.d_k = d_model, num_heads, d_model // num_heads
        self.dropout = dropout
        self.fused = True
        self.w_qkv = nn.Linear(d_model, 3 * d_model, bias=bias)
        self.w_o = nn.Linear(d_model, d_model, bias=bias)

    def forward(self, x: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a floating-point tensor, got {getattr(x, 'dtype', type(x).__name__)}")
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"x must have shape (batch, seq, d_model={self.d_model}), got {tuple(x.shape)}")
        if cache is not None and not isinstance(cache, LayerCache):
            raise TypeError(f"cache must be a LayerCache or None, got {type(cache).__name__}")
        batch, length, _ = x.shape
        q, k, v = self.w_qkv(x).split(self.d_model, dim=-1)                        # 3 x (B, T, D)
        q, k, v = (t.view(batch, length, self.num_heads, self.d_k).transpose(1, 2) for t in (q, k, v))
        if cache is not None:
            k, v = cache.update(k, v)                                               # (B, H, P+T, d_k)
        heads = self._attend(q, k, v, self.dropout if self.training else 0.0)      # (B, H, T, d_k)
        return self.w_o(heads.transpose(1, 2).reshape(batch, length, self.d_model))  # (B, T, D)

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, dropout_p: float) -> torch.Tensor:
        length, past = q.shape[2], k.shape[2] - q.shape[2]
        if self.fused and past == 0:       # training, and the prompt: the fused causal kernel
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
        if self.fused and length == 1:     # one new token may see every cached one: no mask at all
            return F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p)
        # New query i sits at position past + i, so it may see keys 0 .. past + i.
        mask = torch.ones(length, past + length, dtype=torch.bool, device=q.device).tril(past)
        if self.fused:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        return scaled_dot_product_attention(q, k, v, mask, dropout_p, return_weights=True)[0]


class GPTBlock(nn.Module):
    """One pre-norm decoder block: ``x + Attention(LN(x))``, then ``x + FFN(LN(x))``. ``(B, T, D)``."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
        d, bias = config.n_embd, config.bias
        self.attention = CausalSelfAttention(d, config.n_head, config.dropout, bias)
        self.feed_forward = PositionwiseFeedForward(d, 4 * d, 0.0, config.activation, bias)
        self.attention_block = SublayerConnection(d, config.dropout, norm_first=True, eps=config.eps, bias=bias)
        self.feed_forward_block = SublayerConnection(d, config.dropout, norm_first=True, eps=config.eps, bias=bias)

    def forward(self, x: torch.Tensor, cache: LayerCache | None = None) -> torch.Tensor:
        x = self.attention_block(x, lambda h: self.attention(h, cache))
        return self.feed_forward_block(x, self.feed_forward)


class GPT(nn.Module):
    """Token ids ``(B, T)`` to next-token logits ``(B, T, V)``; ``T <= config.block_size``.

    With a ``KVCache`` only the new tokens are passed: their positions continue after the cached
    ones, and the cache grows by ``T``. ``idx`` may have any integer dtype (it is converted to
    int64 where ``nn.Embedding`` needs it); floats and bools are refused (TypeError), and so are
    ids outside ``[0, vocab_size)`` (ValueError). An empty ``idx`` gives empty logits.
    """

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        if not isinstance(config, GPTConfig):
            raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")
        self.config = config
        self.activation_checkpointing = False                    # see set_activation_checkpointing
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.position_embedding = LearnedPositionalEncoding(config.n_embd, config.block_size, config.dropout)
        self.blocks = nn.ModuleList(GPTBlock(config) for _ in range(config.n_layer))
        self.final_norm = nn.LayerNorm(config.n_embd, eps=config.eps, bias=config.bias)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.head.weight = self.token_embedding.weight           # weight tying: one (V, D) matrix
        self.apply(self._init_weights)
        residual_std = config.init_std / math.sqrt(2 * config.n_layer)   # GPT-2: scale the residual writes
        for block in self.blocks:
            nn.init.normal_(block.attention.w_o.weight, std=residual_std)
            nn.init.normal_(block.feed_forward.linear2.weight, std=residual_std)

    def _init_weights(self, module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=self.config.init_std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def set_activation_checkpointing(self, enabled: bool) -> "GPT":
        """Recompute each block's activations in the backward pass instead of keeping them
        (``torch.utils.checkpoint``, Part V): less memory, one more forward pass of the blocks."""
        self.activation_checkpointing = check_bool("enabled", enabled)
        return self

    def set_fused_attention(self, fused: bool) -> "GPT":
        """Use ``F.scaled_dot_product_attention`` (True) or the step-by-step attention (False)."""
        check_bool("fused", fused)
        for block in self.blocks:
            block.attention.fused = fused
        return self

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        check_token_ids("idx", idx, self.config.vocab_size, 2)
        if cache is not None:
            check_cache(cache, self.config, idx.shape[0])
        if idx.dtype not in (torch.int64, torch.int32):
            idx = idx.long()                                   # int8, int16, uint8: nn.Embedding wants these
        offset = 0 if cache is None else cache.length
        if offset + idx.shape[1] > self.config.block_size:
            raise ValueError(
                f"{offset} cached + {idx.shape[1]} new tokens exceed block_size={self.config.block_size}: "
                "crop the context to the last block_size tokens"
            )
        x = self.position_embedding(self.token_embedding(idx), offset)    # (B, T, D)
        recompute = self.activation_checkpointing and cache is None and torch.is_grad_enabled()
        for index, block in enumerate(self.blocks):
            if recompute:
                x = torch.utils.checkpoint.checkpoint(block, x, use_reentrant=False)
            else:
                x = block(x, None if cache is None else cache.layers[index])
        return self.head(self.final_norm(x))                              # (B, T, V)


def check_cache(cache: KVCache, config, batch: int) -> int:
    """Raise unless ``cache`` is a ``KVCache`` made for a model of ``config`` (its layers, key-value
    heads and head size) and a batch of ``batch`` rows; return its length (the next position)."""
    if not isinstance(cache, KVCache):
        raise TypeError(f"cache must be a KVCache or None, got {type(cache).__name__}")
    keys, c = cache.layers[0].keys, config
    if len(cache.layers) != c.n_layer or keys.shape[1] != c.n_kv_head or keys.shape[3] != c.head_dim:
        raise ValueError(f"cache was made for another model: {len(cache.layers)} layers of {tuple(keys.shape)}, "
                         f"this one has {c.n_layer} layers, {c.n_kv_head} key-value heads of {c.head_dim}")
    if keys.shape[0] != batch:
        raise ValueError(f"cache holds a batch of {keys.shape[0]}, idx has {batch} rows")
    return cache.length


def gpt2_small_config(**changes) -> GPTConfig:
    """GPT-2 small: 12 layers, 12 heads, D = 768, 1024 positions, 50,257 tokens."""
    return GPTConfig(**changes)


def width_scaled_init_std(n_embd: int, reference_std: float = 0.02, reference_width: int = 768) -> float:
    """GPT-2's initial std (0.02 at width 768) carried over to width ``n_embd``.

    A matrix with entries of std ``s`` maps unit-variance inputs of width ``d`` to outputs of std
    ``s * sqrt(d)``. Keeping GPT-2's output scale, ``0.02 * sqrt(768)``, at another width gives
    ``0.02 * sqrt(768 / n_embd)``: 0.02 for GPT-2 small, about 0.049 for a width of 128.
    """
    check_int("n_embd", n_embd)
    check_int("reference_width", reference_width)
    if not check_number("reference_std", reference_std) > 0.0:
        raise ValueError(f"reference_std must be positive, got {reference_std!r}")
    return reference_std * math.sqrt(reference_width / n_embd)
