"""Timing that survives a noisy, shared machine: warm up, repeat, take the median."""
from __future__ import annotations

import statistics
import time
from typing import Callable

import torch

from transformer_book.common.validation import check_int


def median_time(fn: Callable[[], object], *, warmup: int = 2, repeats: int = 7) -> float:
    """Median wall time of ``fn()`` in seconds, after ``warmup`` untimed calls.

    The median (not the mean, not the minimum) is what the book reports: one call slowed by
    another process on a shared core does not move it. ``warmup`` must be an integer >= 0 and
    ``repeats`` an integer >= 1 (bools and floats are refused).
    """
    if not callable(fn):
        raise TypeError(f"fn must be a callable taking no arguments, got {type(fn).__name__}")
    check_int("warmup", warmup, minimum=0)
    check_int("repeats", repeats)
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
