"""Attention masks.

Convention used everywhere in the book (the same as ``F.scaled_dot_product_attention``'s
boolean masks): a mask is a ``torch.bool`` tensor and ``True`` means *may attend*.
Beware: ``nn.MultiheadAttention``'s boolean masks mean the opposite (``True`` = blocked).
"""
from __future__ import annotations

import torch


def causal_mask(size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """A ``(size, size)`` boolean mask whose row ``i`` allows positions ``0..i``: no peeking ahead."""
    if size < 1:
        raise ValueError(f"causal_mask needs a positive size, got {size}")
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()


def padding_mask(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """A ``(B, 1, 1, T)`` boolean mask that is ``False`` wherever ``tokens`` (B, T) is padding.

    It broadcasts over heads and query positions, so every query ignores the padded keys.
    """
    if tokens.dim() != 2:
        raise ValueError(f"padding_mask expects token ids of shape (batch, seq), got {tuple(tokens.shape)}")
    return (tokens != pad_id)[:, None, None, :]


def check_mask(mask: torch.Tensor, batch: int, heads: int, queries: int, keys: int) -> torch.Tensor:
    """Check that ``mask`` is boolean and broadcasts to ``(batch, heads, queries, keys)``; return it as 4-D.

    Accepted shapes: ``(Tq, Tk)``, ``(B, Tq, Tk)`` or ``(B, H, Tq, Tk)``, where any size may be 1.
    """
    if mask.dtype != torch.bool:
        raise TypeError(f"attention masks must be torch.bool (True = may attend), got {mask.dtype}")
    if not 2 <= mask.dim() <= 4:
        raise ValueError(
            f"attention mask must have 2, 3 or 4 dimensions, got shape {tuple(mask.shape)}"
        )
    while mask.dim() < 4:
        mask = mask.unsqueeze(0) if mask.dim() == 2 else mask.unsqueeze(1)
    target = (batch, heads, queries, keys)
    for size, want, name in zip(mask.shape, target, ("batch", "heads", "queries", "keys")):
        if size not in (1, want):
            raise ValueError(
                f"attention mask of shape {tuple(mask.shape)} does not broadcast to "
                f"(batch, heads, queries, keys) = {target}: its {name} size is {size}, expected 1 or {want}"
            )
    return mask
