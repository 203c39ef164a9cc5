"""Attention masks.

Convention used everywhere in the book (the same as ``F.scaled_dot_product_attention``'s
boolean masks): a mask is a ``torch.bool`` tensor and ``True`` means *may attend*.
Beware: ``nn.MultiheadAttention``'s boolean masks mean the opposite (``True`` = blocked).
"""
from __future__ import annotations

import torch


def causal_mask(size: int, device: torch.device | str | None = None) -> torch.Tensor:
    """A ``(size, size)`` boolean mask whose row ``i`` allows positions ``0..i``: no peeking ahead."""
    if not isinstance(size, int) or isinstance(size, bool) or size < 1:
        raise ValueError(f"causal_mask needs a positive integer size, got {size!r}")
    return torch.ones(size, size, dtype=torch.bool, device=device).tril()


def padding_mask(tokens: torch.Tensor, pad_id: int) -> torch.Tensor:
    """A ``(B, 1, 1, T)`` boolean mask that is ``False`` wherever ``tokens`` (B, T) is padding.

    It broadcasts over heads and query positions, so every query ignores the padded keys.
    """
    if not isinstance(tokens, torch.Tensor):
        raise TypeError(f"tokens must be a tensor of token ids, got {type(tokens).__name__}")
    if tokens.dtype.is_floating_point or tokens.dtype.is_complex or tokens.dtype == torch.bool:
        raise TypeError(f"tokens must hold integer token ids, got {tokens.dtype}")
    if not isinstance(pad_id, int) or isinstance(pad_id, bool) or pad_id < 0:
        raise ValueError(f"pad_id must be a non-negative integer token id, got {pad_id!r}")
    if tokens.dim() != 2:
        raise ValueError(f"padding_mask expects token ids of shape (batch, seq), got {tuple(tokens.shape)}")
    return (tokens != pad_id)[:, None, None, :]


def check_mask(mask: torch.Tensor, batch: int, heads: int, queries: int, keys: int) -> torch.Tensor:
    """Check that ``mask`` is a boolean ``(B, H, Tq, Tk)`` mask, any size of which may be 1 (it then
    broadcasts), and return it.

    Only 4-D masks are accepted, so that no mask can be read two ways: a ``(B, T)`` padding mask
    and a ``(Tq, Tk)`` mask have the same shape when ``B == Tq == Tk``. Build masks with
    ``padding_mask(tokens, pad_id)`` (``(B, 1, 1, T)``), ``causal_mask(T)[None, None]``
    (``(1, 1, T, T)``) or their ``&``.
    """
    if not isinstance(mask, torch.Tensor):
        raise TypeError(f"mask must be a torch.bool tensor, got {type(mask).__name__}")
    if mask.dtype != torch.bool:
        raise TypeError(f"attention masks must be torch.bool (True = may attend), got {mask.dtype}")
    target = (batch, heads, queries, keys)
    if mask.dim() != 4:
        hint = (
            " (a (B, T) padding mask and a (Tq, Tk) mask look alike: use padding_mask(tokens, pad_id) "
            "for padding, causal_mask(T)[None, None] for a mask shared by the batch)"
        )
        raise ValueError(
            f"mask must have 4 dimensions (batch, heads, queries, keys) = {target}, any of them 1, "
            f"got shape {tuple(mask.shape)}{hint}"
        )
    for size, want, name in zip(mask.shape, target, ("batch", "heads", "queries", "keys")):
        if size not in (1, want):
            raise ValueError(
                f"attention mask of shape {tuple(mask.shape)} does not broadcast to "
                f"(batch, heads, queries, keys) = {target}: its {name} size is {size}, expected 1 or {want}"
            )
    return mask
