"""Scaled dot-product attention, written out step by step, with a fused fast path.

    Attention(Q, K, V) = softmax(Q K^T / sqrt(d_k)) V          (Vaswani et al., 2017, eq. 1)

Shapes: queries ``(..., Tq, d_k)``, keys ``(..., Tk, d_k)``, values ``(..., Tk, d_v)``, where
``...`` is any batch shape, usually ``(B, H)``. Masks are boolean, ``True`` = may attend.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from transformer_book.pieces.masks import check_mask


def _check_qkv(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> None:
    for name, x in (("query", query), ("key", key), ("value", value)):
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"{name} must be a tensor, got {type(x).__name__}")
        if not x.dtype.is_floating_point:
            raise TypeError(f"{name} must be a floating-point tensor, got {x.dtype}")
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


def _check_attention_mask(mask: torch.Tensor, query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """Check that ``mask`` is boolean and either ``(Tq, Tk)`` or of the scores' own rank
    ``(..., Tq, Tk)`` (any size 1), so that it broadcasts to the scores in one way only; return it."""
    if query.dim() > 4:
        raise ValueError(f"attention supports at most two batch dimensions (B, H), got query {tuple(query.shape)}")
    scores = (*query.shape[:-1], key.shape[-2])
    if isinstance(mask, torch.Tensor) and mask.dim() not in (2, query.dim()):
        raise ValueError(
            f"mask must be (Tq, Tk) or have the scores' {query.dim()} dimensions {scores} "
            f"(any size 1), got shape {tuple(mask.shape)}"
        )
    as_4d = mask.reshape((1,) * (4 - mask.dim()) + tuple(mask.shape)) if isinstance(mask, torch.Tensor) else mask
    check_mask(as_4d, *((1,) * (4 - len(scores)) + scores))
    return mask


def hide_masked_keys(mask: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Zero the keys and values ``(..., Tk, d)`` that no query may see under ``mask`` ``(..., Tq, Tk)``,
    so that whatever they hold (even NaN) cannot reach the output: the weight 0 times a NaN value
    would still be NaN."""
    hidden = ~mask.any(dim=-2).unsqueeze(-1)                   # (..., Tk, 1)
    return key.masked_fill(hidden, 0.0), value.masked_fill(hidden, 0.0)


def attention_scores(query: torch.Tensor, key: torch.Tensor) -> torch.Tensor:
    """The scaled scores ``Q K^T / sqrt(d_k)``, shape ``(..., Tq, Tk)``."""
    d_k = query.shape[-1]
    return query @ key.transpose(-2, -1) / math.sqrt(d_k)


def attention_weights(
    query: torch.Tensor, key: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """The attention weights ``softmax(Q K^T / sqrt(d_k))`` with masked positions at exactly 0.

    Shape ``(..., Tq, Tk)``; every row sums to 1, except the row of a query that the mask lets
    see no key at all: that query attends to nothing, its row is all 0 (and its output is 0), as
    in PyTorch's fused kernel (a plain softmax would give 0/0 = NaN).
    """
    _check_qkv(query, key, key)
    scores = attention_scores(query, key)                      # (..., Tq, Tk)
    if mask is None:
        return scores.softmax(dim=-1)
    mask = _check_attention_mask(mask, query, key)
    scores = scores.masked_fill(~mask, float("-inf"))          # exp(-inf) = 0 exactly
    sees_nothing = ~mask.any(dim=-1, keepdim=True)             # (..., Tq, 1)
    return scores.softmax(dim=-1).masked_fill(sees_nothing, 0.0)


def scaled_dot_product_attention(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    return_weights: bool = False,
    keys_hidden: bool = False,
) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
    """Scaled dot-product attention. Returns the output ``(..., Tq, d_v)``.

    With ``return_weights=True`` it runs the step-by-step version and returns
    ``(output, weights)``, the weights of shape ``(..., Tq, Tk)``. Otherwise it calls the fused
    ``F.scaled_dot_product_attention``, which computes the same thing faster and with less memory
    but never materialises the weights. ``dropout_p`` drops attention weights (training only).

    ``mask`` is boolean (``True`` = may attend), ``(Tq, Tk)`` or of the scores' rank. Both paths
    give the same answer where it matters: a query that may see no key gets the output 0, and a
    key that no query may see has no influence at all, even if it holds NaN or infinity.
    ``keys_hidden=True`` says that the caller has zeroed those keys and values already
    (``hide_masked_keys``, as a decoder does once for its cache of the encoder output), so they
    are not zeroed again at every call.
    """
    _check_qkv(query, key, value)
    if not isinstance(dropout_p, (int, float)) or isinstance(dropout_p, bool) or not 0.0 <= dropout_p < 1.0:
        raise ValueError(f"dropout_p must be a number in [0, 1), got {dropout_p!r}")
    if mask is not None:
        mask = _check_attention_mask(mask, query, key)
        if not keys_hidden:
            key, value = hide_masked_keys(mask, key, value)
    if not return_weights:
        output = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, dropout_p=dropout_p)
        if mask is None:
            return output
        return output.masked_fill(~mask.any(dim=-1, keepdim=True), 0.0)   # on every device and kernel
    weights = attention_weights(query, key, mask)              # (..., Tq, Tk)
    if dropout_p > 0.0:
        weights_used = F.dropout(weights, p=dropout_p)
    else:
        weights_used = weights
    return weights_used @ value, weights                       # (..., Tq, d_v), (..., Tq, Tk)
