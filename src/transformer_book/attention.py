"""Scaled dot-product attention, written out step by step, with a fused fast path.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V          (Vaswani et al., 2017, eq. 1)

Shapes: queries ``(..., Tq, d_k)``, keys ``(..., Tk, d_k)``, values ``(..., Tk, d_v)``, where
``...`` is any batch shape, usually ``(B, H)``. Masks are boolean, ``True`` = may attend.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .masks import check_mask


def _check_qkv(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> None:
    if query.dim() < 2 or key.dim() != query.dim() or value.dim() != query.dim():
        raise ValueError(
            "query, key and value must have the same number of dimensions (at least 2), got shapes "
            f"{tuple(query.shape)}, {tuple(key.shape)}, {tuple(value.shape)}"
        )
    if query.shape[-1] != key.shape[-1]:
        raise ValueError(
            f"query and key must have the same last size d_k, got query {tuple(query.shape)} "
            f"and key {tuple(key.shape)}"
        )
    if key.shape[-2] != value.shape[-2]:
        raise ValueError(
            f"key and value must have the same number of positions, got key {tuple(key.shape)} "
            f"and value {tuple(value.shape)}"
        )
    if query.shape[:-2] != key.shape[:-2] or key.shape[:-2] != value.shape[:-2]:
        raise ValueError(
            f"query, key and value must share their batch dimensions, got {tuple(query.shape)}, "
            f"{tuple(key.shape)}, {tuple(value.shape)}"
        )


def _as_4d_mask(mask: torch.Tensor, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Validate ``mask`` against the (batch..., Tq, Tk) score shape and return it broadcastable."""
    lead = query.shape[:-2]
    batch = lead[0] if len(lead) >= 1 else 1
    heads = lead[1] if len(lead) >= 2 else 1
    if len(lead) > 2:
        raise ValueError(f"attention supports at most two batch dimensions (B, H), got query {tuple(query.shape)}")
    mask4 = check_mask(mask, batch, heads, query.shape[-2], key.shape[-2])
    # Drop the (size-1) leading dimensions the inputs do not have, so broadcasting lines up.
    if query.dim() == 3:
        return mask4[:, 0]
    if query.dim() == 2:
        return mask4[0, 0]
    return mask4


def attention_scores(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """The scaled scores ``Q K^T / sqrt(d_k)``, shape ``(..., Tq, Tk)``."""
    d_k = query.shape[-1]
    return query @ key.transpose(-2, -1) / math.sqrt(d_k)


def attention_weights(
    query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """The attention weights ``softmax(Q K^T / sqrt(d_k))`` with masked positions at exactly 0.

    Shape ``(..., Tq, Tk)``; every row sums to 1. A row whose keys are all masked is NaN,
    on purpose: it means the mask is wrong, and a NaN is louder than a quiet wrong answer.
    """
    scores = attention_scores(query, key)                      # (..., Tq, Tk)
    if mask is not None:
        mask = _as_4d_mask(mask, query, key)
        scores = scores.masked_fill(~mask, float("-inf"))      # exp(-inf) = 0 exactly
    return scores.softmax(dim=-1)


def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    return_weights: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention. Returns the output ``(..., Tq, d_v)``.

    With ``return_weights=True`` it runs the step-by-step version and returns
    ``(output, weights)``, the weights of shape ``(..., Tq, Tk)``. Otherwise it calls the fused
    ``F.scaled_dot_product_attention``, which computes the same thing faster and with less memory
    but never materialises the weights. ``dropout_p`` drops attention weights (training only).
    """
    _check_qkv(query, key, value)
    if not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be in [0, 1), got {dropout_p}")
    if mask is not None:
        mask = _as_4d_mask(mask, query, key)
    if not return_weights:
        return F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout_p)
    weights = attention_weights(query, key, mask)              # (..., Tq, Tk)
    if dropout_p > 0.0:
        weights_used = F.dropout(weights, p=dropout_p)
    else:
        weights_used = weights
    return weights_used @ value, weights                       # (..., Tq, d_v), (..., Tq, Tk)
