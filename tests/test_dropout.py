"""The book's dropout: nn.Dropout's function, with a mask from uniform noise."""
import pytest
import torch
from torch import nn

from transformer_book.pieces.dropout import Dropout, dropout


def test_keeps_about_one_minus_p_and_preserves_the_mean():
    torch.manual_seed(0)
    x = torch.ones(400, 500)
    y = dropout(x, 0.2)
    kept = (y != 0).float().mean().item()
    assert abs(kept - 0.8) < 0.005                       # 200,000 draws: the standard error is 0.0009
    assert torch.all((y == 0) | torch.isclose(y, torch.tensor(1 / 0.8)))
    assert abs(y.mean().item() - 1.0) < 0.01


def test_identity_in_evaluation_or_at_zero():
    x = torch.randn(3, 4)
    assert dropout(x, 0.5, training=False) is x
    assert dropout(x, 0.0) is x
    module = Dropout(0.5).eval()
    assert module(x) is x


def test_same_seed_same_mask_and_gradient_is_the_mask():
    x = torch.randn(6, 7, requires_grad=True)
    torch.manual_seed(3)
    first = dropout(x, 0.3)
    torch.manual_seed(3)
    second = dropout(x, 0.3)
    assert torch.equal(first, second)
    first.sum().backward()
    expected = (first != 0).float() / 0.7
    assert torch.allclose(x.grad, expected)


def test_module_is_an_nn_dropout_with_the_same_p_and_distribution():
    module = Dropout(0.25)
    assert isinstance(module, nn.Dropout) and module.p == 0.25
    torch.manual_seed(0)
    ours = module.train()(torch.ones(100_000)).ne(0).float().mean().item()
    theirs = nn.Dropout(0.25).train()(torch.ones(100_000)).ne(0).float().mean().item()
    assert abs(ours - 0.75) < 0.01 and abs(theirs - 0.75) < 0.01


def test_keeps_the_dtype():
    x = torch.randn(4, 5).to(torch.bfloat16)
    assert dropout(x, 0.1).dtype == torch.bfloat16


@pytest.mark.parametrize("p", [-0.1, 1.0])
def test_bad_probability_is_named(p):
    with pytest.raises(ValueError, match="dropout probability"):
        dropout(torch.ones(2), p)
    with pytest.raises(ValueError, match="dropout probability"):
        Dropout(p)
