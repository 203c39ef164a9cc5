"""The float32 comparison rule (checks.py) and the shared argument checks (validation.py)."""
import pytest
import torch

from transformer_book.common.checks import assert_close, is_close, tolerances
from transformer_book.common.validation import (ArgumentTypeError, check_bool, check_int, check_number,
    check_probability, check_token_ids)


def test_the_rule_scales_with_the_reference_and_allows_float32_rounding():
    x = torch.randn(64, 64, generator=torch.Generator().manual_seed(0)) * 1000
    assert tolerances(x)["atol"] == pytest.approx(1e-5 * x.abs().max().item())
    reordered = (x.double() @ x.double().T).float()          # the same product, another summation
    assert_close(x @ x.T, reordered)
    assert is_close(torch.ones(3, 4) + 1e-6, torch.ones(()))  # broadcasts like torch.allclose


@pytest.mark.parametrize("mistake", ["transpose", "swap", "scale"])
def test_real_mistakes_fail(mistake):
    g = torch.Generator().manual_seed(1)
    a, b = torch.randn(8, 8, generator=g), torch.randn(8, 8, generator=g)
    wrong = {"transpose": a.T @ b, "swap": b @ a, "scale": (a @ b) * 1.001}[mistake]
    with pytest.raises(AssertionError, match="tolerance"):
        assert_close(wrong, a @ b, what="product")


def test_an_infinite_reference_entry_does_not_make_every_comparison_pass():
    expected = torch.tensor([float("-inf"), 1.0, 2.0])
    assert is_close(expected.clone(), expected)
    assert not is_close(torch.tensor([float("-inf"), 1000.0, -5.0]), expected)


def test_a_zero_reference_needs_the_magnitude_of_the_inputs():
    x = torch.randn(4, 100, generator=torch.Generator().manual_seed(2))
    centred = x - x.mean(-1, keepdim=True)
    assert not is_close(centred.mean(-1), torch.zeros(4))                 # exact zero demanded
    assert is_close(centred.mean(-1), torch.zeros(4), magnitude=x.abs().max().item())


@pytest.mark.parametrize("call, error, match", [
    (lambda: assert_close([1.0], torch.ones(1)), TypeError, "actual must be a tensor"),
    (lambda: assert_close(torch.ones(1), [1.0]), TypeError, "expected must be a tensor"),
    (lambda: tolerances(torch.ones(1), rtol=-1), ValueError, "non-negative"),
    (lambda: tolerances(torch.ones(1), magnitude=-1.0), ValueError, "magnitude must be a finite non-negative"),
    (lambda: tolerances(torch.ones(1), magnitude=float("inf")), ValueError, "magnitude must be a finite"),
    (lambda: tolerances(torch.ones(1), rtol=float("nan")), ValueError, "rtol must be a finite"),
    (lambda: assert_close(torch.ones(3), torch.ones(2)), AssertionError, "shapes differ"),
])
def test_bad_arguments_of_the_comparison(call, error, match):
    with pytest.raises(error, match=match):
        call()


@pytest.mark.parametrize("value", [0, -1, 2.0, True, "3", None])
def test_check_int_refuses_by_name(value):
    error = ValueError if isinstance(value, int) and not isinstance(value, bool) else ArgumentTypeError
    with pytest.raises(error, match=r"size must be an integer >= 1"):
        check_int("size", value)


def test_a_wrong_type_is_both_a_type_error_and_a_value_error():
    for call in (lambda: check_int("n", 2.5), lambda: check_number("x", "1"), lambda: check_bool("b", 1)):
        with pytest.raises(ArgumentTypeError) as caught:
            call()
        assert isinstance(caught.value, TypeError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), True, "0.1", -0.1, 1.0])
def test_check_probability_refuses_by_name(value):
    with pytest.raises(ValueError, match="p must be"):
        check_probability("p", value)


def test_check_number_bounds():
    assert check_number("x", 0.5, 0.0, 1.0) == 0.5
    with pytest.raises(ValueError, match=r"x must be in \(0, inf\]"):
        check_number("x", 0.0, low=0.0, low_open=True)


def test_check_token_ids():
    for dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8, torch.uint16, torch.uint32):
        check_token_ids("ids", torch.tensor([[1, 2]]).to(dtype), vocab_size=3, dims=2)
    with pytest.raises(ValueError, match="got ids from 1 to 7"):
        check_token_ids("ids", torch.tensor([[1, 7]]).to(torch.uint16), vocab_size=3)
    for bad, error, match in [
        (torch.tensor([1.0]), TypeError, "integer token ids"),
        (torch.tensor([True]), TypeError, "integer token ids"),
        ([1, 2], TypeError, "must be a tensor"),
        (torch.tensor([[3]]), ValueError, r"ids must be token ids in \[0, 3\).*got ids from 3 to 3"),
        (torch.tensor([[-1, 2]]), ValueError, r"ids must be token ids in \[0, 3\).*got ids from -1 to 2"),
        (torch.tensor([1]), ValueError, r"must have shape \(batch, seq\)"),
    ]:
        with pytest.raises(error, match=match):
            check_token_ids("ids", bad, vocab_size=3, dims=2)
