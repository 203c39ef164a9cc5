"""The log-log slope fit that chapter 1 uses to read how run times grow."""
import math

import pytest

from transformer_book.common.fits import loglog_slope


@pytest.mark.parametrize("k", [0.0, 1.0, 2.0, -0.5, 1.7])
def test_an_exact_power_law_gives_its_exponent(k):
    xs = [1, 2, 4, 8, 16, 100]
    assert loglog_slope(xs, [3.5 * x**k for x in xs]) == pytest.approx(k, abs=1e-12)


def test_two_points_give_the_ratio_of_logarithms():
    assert loglog_slope([128, 512], [0.01, 0.2]) == pytest.approx(math.log(20) / math.log(4))


def test_noise_is_averaged_by_least_squares():
    xs = [1, 2, 4, 8]
    ys = [x**2 * f for x, f in zip(xs, [1.1, 0.9, 1.1, 0.9])]
    assert loglog_slope(xs, ys) == pytest.approx(2, abs=0.1)
    assert loglog_slope(xs, ys) != pytest.approx(2, abs=1e-6)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="same length"):
        loglog_slope([1, 2], [1, 2, 3])
    with pytest.raises(ValueError, match="at least 2"):
        loglog_slope([1], [1])
    with pytest.raises(ValueError, match="positive"):
        loglog_slope([1, 0], [1, 2])
    with pytest.raises(ValueError, match="positive"):
        loglog_slope([1, 2], [1, float("nan")])
    with pytest.raises(ValueError, match="all equal"):
        loglog_slope([3, 3], [1, 2])
    with pytest.raises(TypeError, match="numbers"):
        loglog_slope([1, True], [1, 2])


def test_numpy_and_torch_scalars_are_numbers():
    import numpy as np
    import torch
    xs = [np.float32(1.0), np.int64(2), torch.tensor(4.0)]
    ys = [np.float64(3.0), torch.tensor(12.0), 48]
    assert abs(loglog_slope(xs, ys) - 2.0) < 1e-6
