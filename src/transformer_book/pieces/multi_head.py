"""Multi-head attention (Vaswani et al., 2017, section 3.2.2)."""
from __future__ import annotations

import torch
from torch import nn

from transformer_book.pieces.attention import scaled_dot_product_attention
from transformer_book.pieces.masks import check_mask
from transformer_book.common.validation import check_int, check_probability


class MultiHeadAttention(nn.Module):
    """``h`` attention heads side by side, each on its own ``d_k = d_model / h`` slice.

    Self-attention passes the same tensor as query, key and value. Cross-attention passes the
    decoder's states as ``query`` and the encoder's output as ``key`` and ``value``.
    Shapes: query ``(B, Tq, D)``, key and value ``(B, Tk, D)``, output ``(B, Tq, D)``.
    """

    def __init__(self, d_model: int, num_heads: int, dropout: float = 0.0, bias: bool = True) -> None:
        super().__init__()
        check_int("d_model", d_model)
        check_int("num_heads", num_heads)
        dropout = check_probability("dropout", dropout)   # a plain float, whatever number type came in
        if d_model % num_heads != 0:
            raise ValueError(
                f"d_model={d_model} must be divisible by num_heads={num_heads} "
                "(each head gets d_model / num_heads dimensions)"
            )
        self.d_model, self.num_heads, self.d_k = d_model, num_heads, d_model // num_heads
        self.dropout = dropout
        self.w_q = nn.Linear(d_model, d_model, bias=bias)
        self.w_k = nn.Linear(d_model, d_model, bias=bias)
        self.w_v = nn.Linear(d_model, d_model, bias=bias)
        self.w_o = nn.Linear(d_model, d_model, bias=bias)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, num_heads={self.num_heads}, d_k={self.d_k}, dropout={self.dropout}"

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, T, D)`` to ``(B, h, T, d_k)``."""
        batch, length, _ = x.shape
        return x.view(batch, length, self.num_heads, self.d_k).transpose(1, 2)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, h, T, d_k)`` to ``(B, T, D)``."""
        batch, _, length, _ = x.shape
        return x.transpose(1, 2).reshape(batch, length, self.d_model)

    def _check(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> None:
        for name, x in (("query", query), ("key", key), ("value", value)):
            if not isinstance(x, torch.Tensor) or not x.dtype.is_floating_point:
                raise TypeError(f"{name} must be a floating-point tensor, got {getattr(x, 'dtype', type(x).__name__)}")
            if x.dim() != 3 or x.shape[-1] != self.d_model:
                raise ValueError(
                    f"{name} must have shape (batch, seq, d_model={self.d_model}), got {tuple(x.shape)}"
                )
        if not query.shape[0] == key.shape[0] == value.shape[0]:
            raise ValueError(
                f"query, key and value must have the same batch size, got "
                f"{query.shape[0]}, {key.shape[0]}, {value.shape[0]}"
            )
        if key.shape[1] != value.shape[1]:
            raise ValueError(
                f"key and value must have the same length, got {key.shape[1]} and {value.shape[1]}"
            )

    def forward(
        self,
        query: torch.Tensor,
        key: torch.Tensor,
        value: torch.Tensor,
        mask: torch.Tensor | None = None,
        return_weights: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend from ``query`` to ``key``/``value``. With ``return_weights=True`` also return
        the per-head weights ``(B, h, Tq, Tk)``.

        ``mask`` is boolean, ``True`` = may attend, with exactly 4 dimensions
        ``(B, h, Tq, Tk)``, any of them 1: ``padding_mask(tokens, pad_id)`` is ``(B, 1, 1, Tk)``,
        ``causal_mask(T)[None, None]`` is ``(1, 1, T, T)``. A 2-D mask is refused: a ``(B, Tk)``
        padding mask and a ``(Tq, Tk)`` mask cannot be told apart when ``B == Tq``."""
        self._check(query, key, value)
        if mask is not None:
            check_mask(mask, query.shape[0], self.num_heads, query.shape[1], key.shape[1])
        k, v = self.project_keys_values(key, value)                 # (B, h, Tk, d_k) each
        return self.attend(query, k, v, mask, return_weights)

    def project_keys_values(self, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The keys and values of the heads: ``key`` and ``value`` ``(B, Tk, D)`` to ``(B, h, Tk, d_k)``
        each. A decoder computes those of the encoder output once per sentence and keeps them."""
        return self.split_heads(self.w_k(key)), self.split_heads(self.w_v(value))

    def attend(
        self,
        query: torch.Tensor,
        k: torch.Tensor,
        v: torch.Tensor,
        mask: torch.Tensor | None = None,
        return_weights: bool = False,
        keys_hidden: bool = False,
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend from ``query`` ``(B, Tq, D)`` to keys and values already projected into heads,
        ``(B, h, Tk, d_k)`` each (by ``project_keys_values``); the rest as ``forward``, whose checks
        this skips: it runs at every step of decoding. ``keys_hidden``: see
        ``attention.scaled_dot_product_attention``."""
        q = self.split_heads(self.w_q(query))                      # (B, h, Tq, d_k)
        dropout_p = self.dropout if self.training else 0.0
        result = scaled_dot_product_attention(q, k, v, mask, dropout_p, return_weights, keys_hidden)
        heads, weights = result if return_weights else (result, None)
        output = self.w_o(self.merge_heads(heads))                 # (B, Tq, D)
        return (output, weights) if return_weights else output
