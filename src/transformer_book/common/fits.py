"""Fitting a power law to measurements: the slope of a line on a log-log plot.

If a measured quantity ``y`` grows like ``x**k`` (a time like ``T**2``, say), then
``log y = k log x + c``: drawn with both axes logarithmic (a *log-log* plot) the points lie on a
straight line whose slope is the exponent ``k``. Doubling ``x`` then multiplies ``y`` by ``2**k``.
Chapter 1 reads the growth of measured run times this way.
"""
from __future__ import annotations

import math
import numbers
from typing import Sequence


def loglog_slope(xs: Sequence[float], ys: Sequence[float]) -> float:
    """The exponent ``k`` of the power law ``y ~ x**k`` that best fits the points ``(x, y)``.

    It is the slope of the least-squares line through the points ``(log x, log y)``; for two
    points, exactly ``log(y2 / y1) / log(x2 / x1)``. ``xs`` and ``ys`` must have the same length,
    at least 2, hold only positive finite numbers, and ``xs`` must not all be equal.
    """
    xs, ys = list(xs), list(ys)   # NumPy and torch scalars are numbers.Real too (0-d tensors via .item())
    xs = [x.item() if hasattr(x, "item") and getattr(x, "ndim", None) == 0 else x for x in xs]
    ys = [y.item() if hasattr(y, "item") and getattr(y, "ndim", None) == 0 else y for y in ys]
    if len(xs) != len(ys):
        raise ValueError(f"xs and ys must have the same length, got {len(xs)} and {len(ys)}")
    if len(xs) < 2:
        raise ValueError(f"a slope needs at least 2 points, got {len(xs)}")
    for name, values in (("xs", xs), ("ys", ys)):
        for value in values:
            if isinstance(value, bool) or not isinstance(value, numbers.Real):
                raise TypeError(f"{name} must hold numbers, got {type(value).__name__}")
            if not (math.isfinite(float(value)) and value > 0):
                raise ValueError(f"{name} must hold positive finite numbers (their logarithms are taken), got {value}")
    log_x = [math.log(x) for x in xs]
    log_y = [math.log(y) for y in ys]
    mean_x, mean_y = sum(log_x) / len(log_x), sum(log_y) / len(log_y)
    spread = sum((lx - mean_x) ** 2 for lx in log_x)
    if spread == 0:
        raise ValueError("xs are all equal: no slope can be fitted")
    return sum((lx - mean_x) * (ly - mean_y) for lx, ly in zip(log_x, log_y)) / spread
