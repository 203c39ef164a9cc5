"""Argument checks shared by the package: each raises a clear error that names the argument.

Every public function checks what it is given before doing any work, so that a bad argument
fails at once with a message that says which argument, what was expected and what was got,
instead of deep inside torch or, worse, not at all.
"""
from __future__ import annotations

import math

import torch


def check_int(name: str, value: object, minimum: int = 1) -> int:
    """``value`` if it is an integer (not a bool) of at least ``minimum``; else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_number(
    name: str, value: object, low: float = -math.inf, high: float = math.inf, high_open: bool = False,
    low_open: bool = False,
) -> float:
    """``value`` if it is a finite real number (not a bool) in ``[low, high]`` (``low_open`` /
    ``high_open`` exclude an end); else ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    too_low = value <= low if low_open else value < low
    too_high = value >= high if high_open else value > high
    if too_low or too_high:
        interval = f"{'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return float(value)


def check_probability(name: str, value: object) -> float:
    """A dropout-style probability: a number in ``[0, 1)`` (1 would drop everything)."""
    return check_number(name, value, 0.0, 1.0, high_open=True)


def check_token_ids(name: str, ids: object, vocab_size: int | None = None, dims: int | None = None) -> torch.Tensor:
    """``ids`` if it is a tensor of integer token ids (any integer dtype), with ``dims`` dimensions
    when given and every id in ``[0, vocab_size)`` when ``vocab_size`` is given."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of token ids, got {type(ids).__name__}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(f"{name} must hold integer token ids, got dtype {ids.dtype}")
    if dims is not None and ids.dim() != dims:
        raise ValueError(f"{name} must have {dims} dimensions, got shape {tuple(ids.shape)}")
    if vocab_size is not None and ids.numel():
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= vocab_size:
            bad = low if low < 0 else high
            raise ValueError(f"{name} must be token ids in [0, {vocab_size}), got {bad}")
    return ids
