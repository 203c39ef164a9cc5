"""Comparing floating-point results: the one tolerance rule the tests and the chapters use.

Two correct float32 computations of the same thing rarely agree to the last bit. A matrix product
adds its terms in an order that depends on the kernel, and the kernel depends on the CPU (AVX2 or
AVX-512 and AMX), on the number of threads and on the shapes. Each addition rounds to float32's
relative precision, ``eps = 2**-23 ~ 1.2e-7``, so a sum of ``n`` terms differs between two orders by
about ``sqrt(n) * eps`` times the size of the terms, and the difference grows with every layer it
passes through. What a comparison can demand therefore depends on the size of the values compared:

    |actual - expected| <= atol + rtol * |expected|,   atol = scale * max|expected|

``rtol`` bounds the error of each element relative to itself; the absolute part is scaled by the
reference's magnitude, so that an element near zero (where relative error means nothing) is
judged against the size of its neighbours. The defaults, ``rtol = 1e-4`` and ``scale = 1e-5``,
allow about a hundred units of float32 rounding: the deepest comparison in the book (12 layers of
a BERT encoder against ``transformers``) differs by about ten. Real mistakes (two weights swapped,
a missing transpose, a wrong scale) change outputs by far more than a thousandth, so they still fail.
"""
from __future__ import annotations

import math

import torch

RTOL = 1e-4
SCALE = 1e-5


def tolerances(
    expected: torch.Tensor, rtol: float = RTOL, scale: float = SCALE, magnitude: float | None = None
) -> dict[str, float]:
    """``{"rtol": rtol, "atol": scale * magnitude}`` for comparing against ``expected``.

    ``magnitude`` is the size of the numbers the result was computed from; by default
    ``max|expected|``. Pass it when the reference is 0 or much smaller than its inputs (a mean
    that should vanish, a difference that should cancel): the rounding errors are those of the
    inputs, and an all-zero reference alone would allow no error at all."""
    if not isinstance(expected, torch.Tensor):
        raise TypeError(f"expected must be a tensor, got {type(expected).__name__}")
    for name, value in (("rtol", rtol), ("scale", scale), ("magnitude", magnitude)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value) or value < 0):
            raise ValueError(f"{name} must be a finite non-negative number, got {value!r}")
    if magnitude is None:   # the finite entries only: an infinite one (a log of 0) would allow anything
        finite = expected.detach().abs()[torch.isfinite(expected)] if expected.numel() else expected
        magnitude = float(finite.max()) if finite.numel() else 0.0
    return {"rtol": rtol, "atol": scale * float(magnitude)}


def assert_close(
    actual: torch.Tensor,
    expected: torch.Tensor,
    rtol: float = RTOL,
    scale: float = SCALE,
    what: str = "",
    magnitude: float | None = None,
) -> None:
    """Raise ``AssertionError`` unless ``actual`` equals ``expected`` within float32 rounding:
    ``|actual - expected| <= scale * max|expected| + rtol * |expected|`` elementwise (see
    ``tolerances`` for ``magnitude``, which replaces ``max|expected|``).

    ``expected`` may broadcast to ``actual``'s shape (``torch.ones(())`` for rows that sum to 1);
    no other shape difference is allowed. ``what`` names the quantity in the message. Dtypes may
    differ (a float64 reference is fine); both are compared in the wider one.
    """
    if not isinstance(actual, torch.Tensor):
        raise TypeError(f"actual must be a tensor, got {type(actual).__name__}")
    tol = tolerances(expected, rtol, scale, magnitude)
    dtype = torch.promote_types(actual.dtype, expected.dtype)
    label = f"{what}: " if what else ""
    if expected.shape != actual.shape:
        try:
            expected = expected.expand(actual.shape)
        except RuntimeError:
            raise AssertionError(
                f"{label}shapes differ: actual {tuple(actual.shape)}, expected {tuple(expected.shape)}"
            ) from None
    torch.testing.assert_close(
        actual.detach().to(dtype), expected.detach().to(dtype), **tol,
        msg=lambda detail: f"{label}{detail} (tolerance: rtol={tol['rtol']:.1e}, atol={tol['atol']:.2e})",
    )


def is_close(
    actual: torch.Tensor,
    expected: torch.Tensor,
    rtol: float = RTOL,
    scale: float = SCALE,
    magnitude: float | None = None,
) -> bool:
    """True when ``assert_close(actual, expected, ...)`` would pass (for ``assert`` in a chapter,
    and ``assert not`` where two results must differ)."""
    try:
        assert_close(actual, expected, rtol, scale, magnitude=magnitude)
    except AssertionError:
        return False
    return True
