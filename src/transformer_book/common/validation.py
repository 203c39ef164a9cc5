"""Argument checks shared by the package: each raises a clear error that names the argument.

Every public function checks what it is given before doing any work, so that a bad argument
fails at once with a message that says which argument, what was expected and what was got,
instead of deep inside torch or, worse, not at all.
"""
from __future__ import annotations

import math
import numbers

import torch


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type (a float or bool where an integer count is wanted, a string
    where a number is). It is a ``TypeError`` and also a ``ValueError``, as numpy's ``AxisError``
    is both a ``ValueError`` and an ``IndexError``: code that catches bad values catches it too."""


def check_int(name: str, value: object, minimum: int | None = 1) -> int:
    """``value`` if it is an integer (not a bool) of at least ``minimum`` (any integer when
    ``minimum`` is None): ``ArgumentTypeError`` for another type, ``ValueError`` below ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        bound = "" if minimum is None else f" >= {minimum}"
        raise ArgumentTypeError(f"{name} must be an integer{bound}, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return int(value)


def check_bool(name: str, value: object) -> bool:
    """``value`` if it is ``True`` or ``False`` (not 0, 1 or a string); else ``ArgumentTypeError``."""
    if not isinstance(value, bool):
        raise ArgumentTypeError(f"{name} must be True or False, got {value!r} ({type(value).__name__})")
    return value


def check_number(
    name: str, value: object, low: float = -math.inf, high: float = math.inf, high_open: bool = False,
    low_open: bool = False,
) -> float:
    """``value`` as a float if it is a finite real number (not a bool) in ``[low, high]``
    (``low_open`` / ``high_open`` exclude an end): ``ArgumentTypeError`` for another type,
    ``ValueError`` for NaN, infinity or a value out of range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ArgumentTypeError(f"{name} must be a finite number, got {value!r} ({type(value).__name__})")
    if not math.isfinite(value):
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


def check_float_dtype(name: str, dtype: object) -> torch.dtype:
    """``dtype`` if it is a floating-point ``torch.dtype``; else ``TypeError``."""
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point torch.dtype, got {dtype!r}")
    return dtype


_UNSIGNED_WIDE = tuple(getattr(torch, name) for name in ("uint16", "uint32", "uint64") if hasattr(torch, name))


def check_token_ids(name: str, ids: object, vocab_size: int | None = None, dims: int | None = None) -> torch.Tensor:
    """``ids`` if it is a tensor of integer token ids (any integer dtype; not bool, float or
    complex), with ``dims`` dimensions when given and, when ``vocab_size`` is given, every id in
    ``[0, vocab_size)``. The range check costs one min/max (one device sync); it is skipped on the
    meta device and while ``torch.compile`` traces, so that it causes no graph break."""
    if not isinstance(ids, torch.Tensor):
        raise TypeError(f"{name} must be a tensor of token ids, got {type(ids).__name__}")
    if ids.dtype == torch.bool or ids.is_floating_point() or ids.is_complex():
        raise TypeError(f"{name} must hold integer token ids (an integer dtype), got dtype {ids.dtype}")
    if dims is not None and ids.dim() != dims:
        shape = "(batch, seq)" if dims == 2 else "(N,)" if dims == 1 else f"{dims}-D"
        raise ValueError(f"{name} must have shape {shape}, got shape {tuple(ids.shape)}")
    if vocab_size is None or not ids.numel() or ids.device.type == "meta" or torch.compiler.is_compiling():
        return ids
    wide = ids.long() if ids.dtype in _UNSIGNED_WIDE else ids   # aminmax has no kernel for these
    low, high = torch.stack(torch.aminmax(wide)).tolist()
    if low < 0 or high >= vocab_size:
        raise ValueError(
            f"{name} must be token ids in [0, {vocab_size}) (the vocabulary), got ids from {low} to {high}"
        )
    return ids
