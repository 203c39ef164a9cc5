import pytest
import torch

from transformer_book.pieces.masks import causal_mask, check_mask, padding_mask


def test_causal_mask_is_lower_triangular():
    mask = causal_mask(4)
    assert mask.dtype == torch.bool
    assert torch.equal(mask, torch.tensor([[1, 0, 0, 0], [1, 1, 0, 0], [1, 1, 1, 0], [1, 1, 1, 1]]).bool())


def test_causal_mask_rejects_non_positive_size():
    for bad in (0, -3, 2.0, True):
        with pytest.raises(ValueError, match=f"positive integer size, got {bad!r}"):
            causal_mask(bad)


def test_padding_mask_shape_and_values():
    tokens = torch.tensor([[4, 5, 0], [7, 0, 0]])
    mask = padding_mask(tokens, pad_id=0)
    assert mask.shape == (2, 1, 1, 3)
    assert torch.equal(mask[:, 0, 0], torch.tensor([[True, True, False], [True, False, False]]))


def test_padding_mask_needs_batch_of_sequences():
    with pytest.raises(ValueError, match=r"\(batch, seq\), got \(3,\)"):
        padding_mask(torch.tensor([1, 2, 0]), 0)


@pytest.mark.parametrize("shape", [(1, 1, 5, 7), (2, 1, 1, 7), (2, 1, 5, 7), (1, 3, 1, 7), (2, 3, 5, 7)])
def test_check_mask_accepts_broadcastable_shapes(shape):
    assert check_mask(torch.ones(shape, dtype=torch.bool), 2, 3, 5, 7).dim() == 4


@pytest.mark.parametrize("shape", [(5, 7), (2, 5, 7), (5, 6), (4, 5, 7), (2, 2, 5, 7), (7,), (1, 1, 1, 5, 7)])
def test_check_mask_rejects_other_shapes(shape):
    with pytest.raises(ValueError, match="mask"):
        check_mask(torch.ones(shape, dtype=torch.bool), 2, 3, 5, 7)


def test_check_mask_refuses_non_boolean_masks():
    with pytest.raises(TypeError, match="torch.bool"):
        check_mask(torch.ones(1, 1, 5, 7), 2, 3, 5, 7)
    with pytest.raises(TypeError, match="mask must be a torch.bool tensor, got list"):
        check_mask([[True]], 2, 3, 5, 7)


@pytest.mark.parametrize("tokens, pad_id, error, match", [
    (torch.tensor([[1.0, 0.0]]), 0, TypeError, "integer token ids"),
    (torch.tensor([[True, False]]), 0, TypeError, "integer token ids"),
    ([[1, 0]], 0, TypeError, "tokens must be a tensor"),
    (torch.tensor([[1, 0]]), -1, ValueError, "pad_id must be a non-negative integer"),
    (torch.tensor([[1, 0]]), 0.0, ValueError, "pad_id must be a non-negative integer"),
])
def test_padding_mask_refuses_bad_tokens_and_pad_ids(tokens, pad_id, error, match):
    with pytest.raises(error, match=match):
        padding_mask(tokens, pad_id)


def test_padding_mask_accepts_every_integer_dtype():
    for dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8):
        tokens = torch.tensor([[4, 5, 0]], dtype=dtype)
        assert padding_mask(tokens, 0)[0, 0, 0].tolist() == [True, True, False]
