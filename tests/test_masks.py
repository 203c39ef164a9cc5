import pytest
import torch

from transformer_book.masks import causal_mask, check_mask, padding_mask


def test_causal_mask_is_lower_triangular():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool
    assert torch.equal(mask, torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]).bool())


def test_causal_mask_rejects_non_positive_size():
    with pytest.raises(ValueError, match="positive size, got 0"):
        causal_mask(0)


def test_padding_mask_shape_and_values():
    tokens = torch.tensor([[4, 5, 0], [7, 0, 0]])
    mask = padding_mask(tokens, pad_id=0)
    assert mask.shape == (2, 1, 1, 3)
    assert torch.equal(mask[:, 0, 0], torch.tensor([[True, True, False], [True, False, False]]))


def test_padding_mask_needs_batch_of_sequences():
    with pytest.raises(ValueError, match=r"\(batch, seq\), got \(3,\)"):
        padding_mask(torch.tensor([1, 2, 0]), 0)


@pytest.mark.parametrize("shape", [(5, 7), (2, 5, 7), (2, 1, 5, 7), (1, 3, 1, 7), (2, 3, 5, 7)])
def test_check_mask_accepts_broadcastable_shapes(shape):
    assert check_mask(torch.ones(shape, dtype=torch.bool), 2, 3, 5, 7).dim() == 4


@pytest.mark.parametrize("shape", [(5, 6), (4, 5, 7), (2, 2, 5, 7), (7,), (1, 1, 1, 5, 7)])
def test_check_mask_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match="mask"):
        check_mask(torch.ones(shape, dtype=torch.bool), 2, 3, 5, 7)
