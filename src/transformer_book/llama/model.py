"""A Llama-style decoder (Touvron et al., 2023): GPT-2's decoder with four modern pieces swapped in.

    h_0 = TokenEmbedding(ids)                                   (no position table)
    h_l = h_{l-1} + Attention(RMSNorm(h_{l-1}))                 (rotary positions on q and k,
                                                                 grouped-query keys and values)
    h_l = h_l + SwiGLU(RMSNorm(h_l))
    logits = RMSNorm(h_L) W_out^T                               (W_out tied to the embedding or not)

No Linear layer has a bias. Shapes: token ids ``(B, T)``, states ``(B, T, D)``, logits
``(B, T, V)``; queries ``(B, H, T, d)``, keys and values ``(B, H_kv, T, d)`` with ``H_kv``
dividing ``H`` (``H_kv = H``: multi-head attention; ``H_kv = 1``: multi-query attention).

The configuration uses the book's GPT names (``n_embd``, ``n_head``, ``block_size``, ...), so that
``gpt.generation.generate`` and ``gpt.model.KVCache`` serve this model too; ``weights`` maps the
names of ``transformers``' ``LlamaConfig`` and of GGUF files onto them.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from transformer_book.common.validation import check_bool, check_int, check_number, check_token_ids
from transformer_book.gpt.model import KVCache, LayerCache, check_cache
from transformer_book.llama.rotary import LAYOUTS, apply_rotary, rotary_cos_sin
from transformer_book.pieces.attention import scaled_dot_product_attention


@dataclass(frozen=True)
class LlamaConfig:
    """The sizes of a Llama-style decoder. The defaults are SmolLM2-135M's."""

    vocab_size: int = 49152
    block_size: int = 8192        # the longest context it was trained for (max_position_embeddings)
    n_layer: int = 30
    n_head: int = 9
    n_kv_head: int = 3            # key-value heads: n_head is a multiple of it
    n_embd: int = 576             # D
    d_ff: int = 1536              # the SwiGLU's hidden width (intermediate_size)
    rope_theta: float = 100000.0  # the base of the rotary angles
    rope_layout: str = "half"     # which numbers the rotary positions pair up (see rotary)
    eps: float = 1e-5             # RMSNorm epsilon
    tie_embeddings: bool = True   # the output head shares the token embedding's matrix
    init_std: float = 0.02

    def __post_init__(self) -> None:
        for name in ("vocab_size", "block_size", "n_layer", "n_head", "n_kv_head", "n_embd", "d_ff"):
            check_int(name, getattr(self, name))
        if self.n_embd % self.n_head or (self.n_embd // self.n_head) % 2:
            raise ValueError(f"n_embd={self.n_embd} must be n_head={self.n_head} times an even head size")
        if self.n_head % self.n_kv_head:
            raise ValueError(f"n_head={self.n_head} must be a multiple of n_kv_head={self.n_kv_head}")
        check_number("rope_theta", self.rope_theta, low=1.0, low_open=True)
        if self.rope_layout not in LAYOUTS:
            raise ValueError(f"rope_layout must be one of {LAYOUTS}, got {self.rope_layout!r}")
        for name in ("eps", "init_std"):
            check_number(name, getattr(self, name), low=0.0, low_open=True)
        check_bool("tie_embeddings", self.tie_embeddings)

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head


class RMSNorm(nn.Module):
    """``x / sqrt(mean(x^2) + eps) * weight`` over the last dimension (Zhang and Sennrich, 2019):
    LayerNorm without the mean subtraction and without the bias. Computed in float32, returned in
    ``x``'s dtype. Shape ``(..., D)`` in and out."""

    def __init__(self, d_model: int, eps: float = 1e-5) -> None:
        super().__init__()
        check_int("d_model", d_model)
        self.eps = check_number("eps", eps, low=0.0, low_open=True)
        self.weight = nn.Parameter(torch.ones(d_model))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point() or x.shape[-1:] != self.weight.shape:
            raise ValueError(f"x must be a floating-point tensor (..., {self.weight.shape[0]}), "
                             f"got {getattr(x, 'dtype', type(x).__name__)} {tuple(getattr(x, 'shape', ()))}")
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


class SwiGLU(nn.Module):
    """``W_down (SiLU(W_gate x) * W_up x)`` (Shazeer, 2020): a feed-forward network whose hidden
    units are gated by a second projection. Shape ``(B, T, D)`` in and out, ``d_ff`` hidden."""

    def __init__(self, d_model: int, d_ff: int) -> None:
        super().__init__()
        check_int("d_model", d_model)
        check_int("d_ff", d_ff)
        self.gate = nn.Linear(d_model, d_ff, bias=False)
        self.up = nn.Linear(d_model, d_ff, bias=False)
        self.down = nn.Linear(d_ff, d_model, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(F.silu(self.gate(x)) * self.up(x))


class GroupedQueryAttention(nn.Module):
    """Causal self-attention with ``n_head`` query heads sharing ``n_kv_head`` key-value heads
    (Ainslie et al., 2023), and rotary positions on the queries and keys.

    Query head ``j`` uses key-value head ``j // (n_head // n_kv_head)``. With a ``LayerCache`` the
    new keys and values (``n_kv_head`` heads: the cache is that much smaller) are appended to the
    earlier positions'. ``cos`` and ``sin`` ``(T, d)`` are the rotary angles of the new positions.
    ``fused=False`` runs the book's step-by-step attention (chapter 5) instead of
    ``F.scaled_dot_product_attention``.
    """

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        if not isinstance(config, LlamaConfig):
            raise TypeError(f"config must be a LlamaConfig, got {type(config).__name__}")
        self.n_head, self.n_kv_head, self.head_dim = config.n_head, config.n_kv_head, config.head_dim
        self.layout = config.rope_layout
        self.fused = True
        d, kv = config.n_embd, config.n_kv_head * config.head_dim
        self.q_proj = nn.Linear(d, d, bias=False)
        self.k_proj = nn.Linear(d, kv, bias=False)
        self.v_proj = nn.Linear(d, kv, bias=False)
        self.o_proj = nn.Linear(d, d, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: LayerCache | None = None) -> torch.Tensor:
        batch, length, _ = x.shape
        q = self.q_proj(x).view(batch, length, self.n_head, self.head_dim).transpose(1, 2)     # (B, H, T, d)
        k = self.k_proj(x).view(batch, length, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, Hkv, T, d)
        v = self.v_proj(x).view(batch, length, self.n_kv_head, self.head_dim).transpose(1, 2)  # (B, Hkv, T, d)
        q, k = apply_rotary(q, cos, sin, self.layout), apply_rotary(k, cos, sin, self.layout)
        if cache is not None:
            k, v = cache.update(k, v)                                     # (B, Hkv, P+T, d)
        heads = self._attend(q, k, v)                                     # (B, H, T, d)
        return self.o_proj(heads.transpose(1, 2).reshape(batch, length, -1))

    def _attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        length, past = q.shape[2], k.shape[2] - q.shape[2]
        mask = None if length == 1 else torch.ones(length, past + length, dtype=torch.bool, device=q.device).tril(past)
        if self.fused:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=None if past == 0 else mask,
                                                  is_causal=past == 0 and length > 1, enable_gqa=True)
        group = self.n_head // self.n_kv_head          # each key-value head serves `group` query heads
        k, v = k.repeat_interleave(group, dim=1), v.repeat_interleave(group, dim=1)   # (B, H, P+T, d)
        return scaled_dot_product_attention(q, k, v, mask, 0.0, return_weights=True)[0]


class LlamaBlock(nn.Module):
    """``x + Attention(RMSNorm(x))``, then ``x + SwiGLU(RMSNorm(x))``. ``(B, T, D)``."""

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        self.attention_norm = RMSNorm(config.n_embd, config.eps)
        self.attention = GroupedQueryAttention(config)
        self.feed_forward_norm = RMSNorm(config.n_embd, config.eps)
        self.feed_forward = SwiGLU(config.n_embd, config.d_ff)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                cache: LayerCache | None = None) -> torch.Tensor:
        x = x + self.attention(self.attention_norm(x), cos, sin, cache)
        return x + self.feed_forward(self.feed_forward_norm(x))


class Llama(nn.Module):
    """Token ids ``(B, T)`` to next-token logits ``(B, T, V)``, with an optional ``KVCache``.

    With a cache only the new tokens are passed; their positions continue after the cached ones.
    Ids are checked as ``gpt.model.GPT`` checks them; ``T`` plus the cached length must not exceed
    ``block_size`` (the rotary angles exist for any position, but the model was not trained past it).
    """

    def __init__(self, config: LlamaConfig) -> None:
        super().__init__()
        if not isinstance(config, LlamaConfig):
            raise TypeError(f"config must be a LlamaConfig, got {type(config).__name__}")
        self.config = config
        self.token_embedding = nn.Embedding(config.vocab_size, config.n_embd)
        self.blocks = nn.ModuleList(LlamaBlock(config) for _ in range(config.n_layer))
        self.final_norm = RMSNorm(config.n_embd, config.eps)
        self.head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=config.init_std)
        if config.tie_embeddings:
            self.head.weight = self.token_embedding.weight

    def set_fused_attention(self, fused: bool) -> "Llama":
        """Use ``F.scaled_dot_product_attention`` (True) or the step-by-step attention (False)."""
        check_bool("fused", fused)
        for block in self.blocks:
            block.attention.fused = fused
        return self

    def forward(self, idx: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        check_token_ids("idx", idx, self.config.vocab_size, 2)
        offset = 0 if cache is None else check_cache(cache, self.config, idx.shape[0])
        if offset + idx.shape[1] > self.config.block_size:
            raise ValueError(f"{offset} cached + {idx.shape[1]} new tokens exceed block_size={self.config.block_size}")
        positions = torch.arange(offset, offset + idx.shape[1], device=idx.device)
        cos, sin = rotary_cos_sin(positions, self.config.head_dim, self.config.rope_theta, self.config.rope_layout)
        x = self.token_embedding(idx.long())                                    # (B, T, D)
        for index, block in enumerate(self.blocks):
            x = block(x, cos, sin, None if cache is None else cache.layers[index])
        return self.head(self.final_norm(x))                                    # (B, T, V)


def kv_cache_bytes_per_token(config: LlamaConfig, bytes_per_number: int = 4) -> int:
    """The key-value cache's size for one token: keys and values, every layer, every KV head."""
    if not isinstance(config, LlamaConfig):
        raise TypeError(f"config must be a LlamaConfig, got {type(config).__name__}")
    check_int("bytes_per_number", bytes_per_number)
    return 2 * config.n_layer * config.n_kv_head * config.head_dim * bytes_per_number
