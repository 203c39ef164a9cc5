"""Rotary position embeddings (Su et al., 2021, "RoFormer"), in the two layouts in use.

A head's query or key vector of ``d`` numbers is cut into ``d / 2`` pairs, and pair ``i`` at
position ``m`` is rotated by the angle ``m * theta_i``, with ``theta_i = base ** (-2 i / d)``.
A rotation keeps lengths and turns the dot product of a query at ``m`` and a key at ``n`` into a
function of ``m - n`` only.

Which numbers form a pair is the layout:

- ``"interleaved"``: neighbours, ``(x[2i], x[2i + 1])``, as in the paper, Meta's original Llama
  code and llama.cpp (and so GGUF files);
- ``"half"``: ``(x[i], x[i + d/2])``, the "rotate half" of GPT-NeoX and ``transformers``.

They are the same rotation of differently ordered numbers: permuting the rows of the query and key
projections of each head (``interleaved_to_half``) turns a model of one layout into the other.

Shapes: ``x`` is ``(B, H, T, d)``; ``cos`` and ``sin`` are ``(T, d)``.
"""
from __future__ import annotations

import torch

from transformer_book.common.validation import check_int, check_number

LAYOUTS = ("half", "interleaved")


def _check_layout(layout: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")


def rotary_frequencies(d: int, base: float = 10000.0) -> torch.Tensor:
    """``theta_i = base ** (-2 i / d)`` for ``i = 0 .. d/2 - 1``: ``(d / 2,)`` float32, the angle per
    position of each pair, from one radian per position down to about ``1 / base``. Computed in
    float32 as ``transformers`` and llama.cpp compute it, so that the angles agree to the bit."""
    check_int("d", d)
    if d % 2:
        raise ValueError(f"d must be even (the numbers are rotated in pairs), got {d}")
    check_number("base", base, low=1.0, low_open=True)
    return 1.0 / (base ** (torch.arange(0, d, 2, dtype=torch.int64).float() / d))


def rotary_cos_sin(positions: torch.Tensor, d: int, base: float = 10000.0,
                   layout: str = "half") -> tuple[torch.Tensor, torch.Tensor]:
    """The cosines and sines of every angle ``m * theta_i``, ``(T, d)`` each (float32), for the
    integer ``positions`` ``(T,)``, arranged so that entry ``j`` belongs to the pair that number
    ``j`` of a vector is in (under ``layout``)."""
    _check_layout(layout)
    if not isinstance(positions, torch.Tensor) or positions.dim() != 1 or positions.is_floating_point():
        raise TypeError(f"positions must be a 1-D tensor of integer positions, got {getattr(positions, 'shape', positions)!r}")
    angles = positions.float()[:, None] * rotary_frequencies(d, base).to(positions.device)   # (T, d/2)
    if layout == "half":
        angles = torch.cat([angles, angles], dim=-1)              # number j and j + d/2 share angle j
    else:
        angles = angles.repeat_interleave(2, dim=-1)              # numbers 2i and 2i + 1 share angle i
    return angles.cos(), angles.sin()


def rotate_pairs(x: torch.Tensor, layout: str = "half") -> torch.Tensor:
    """Each pair ``(a, b)`` of ``x`` (pairs as ``layout`` says) replaced by ``(-b, a)``: the
    vector turned by 90 degrees in every pair's plane. Same shape as ``x``."""
    _check_layout(layout)
    if layout == "half":
        first, second = x.chunk(2, dim=-1)
        return torch.cat([-second, first], dim=-1)
    first, second = x[..., 0::2], x[..., 1::2]
    return torch.stack([-second, first], dim=-1).flatten(-2)


def apply_rotary(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, layout: str = "half") -> torch.Tensor:
    """``x`` ``(..., T, d)`` with pair ``i`` at position ``m`` rotated by ``m * theta_i``:
    ``x * cos + rotate_pairs(x) * sin``, computed in float32 and returned in ``x``'s dtype."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {getattr(x, 'dtype', type(x).__name__)}")
    if cos.shape != sin.shape or x.shape[-2:] != cos.shape:
        raise ValueError(f"x (..., T, d) must end in the shape of cos and sin (T, d), got x {tuple(x.shape)}, "
                         f"cos {tuple(cos.shape)}, sin {tuple(sin.shape)}")
    rotated = x.float() * cos + rotate_pairs(x.float(), layout) * sin
    return rotated.to(x.dtype)


def _check_rows(weight: torch.Tensor, heads: int) -> int:
    check_int("heads", heads)
    if not isinstance(weight, torch.Tensor) or weight.dim() not in (1, 2) or weight.shape[0] % (2 * heads):
        raise ValueError(f"weight must be a projection (heads * d, ...) with an even d per head, got "
                         f"{getattr(weight, 'shape', type(weight).__name__)} for heads={heads}")
    return weight.shape[0] // heads


def interleaved_to_half(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """The rows of a query or key projection ``(heads * d, D)`` (or its bias) reordered, head by
    head, from the interleaved layout to the half layout: row ``2i`` goes to ``i`` and row
    ``2i + 1`` to ``i + d/2``. This undoes the permutation llama.cpp applies when it writes GGUF."""
    d = _check_rows(weight, heads)
    rest = weight.shape[1:]
    return weight.reshape(heads, d // 2, 2, *rest).transpose(1, 2).reshape(weight.shape)


def half_to_interleaved(weight: torch.Tensor, heads: int) -> torch.Tensor:
    """The inverse of ``interleaved_to_half``: row ``i`` goes to ``2i`` and ``i + d/2`` to ``2i + 1``."""
    d = _check_rows(weight, heads)
    rest = weight.shape[1:]
    return weight.reshape(heads, 2, d // 2, *rest).transpose(1, 2).reshape(weight.shape)
