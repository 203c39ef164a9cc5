"""Scaled dot-product attention: both paths, masks, parity with PyTorch, errors."""
import pytest
import torch
import torch.nn.functional as F

from transformer_book.pieces.attention import (attention_scores, attention_weights,
    scaled_dot_product_attention)
from transformer_book.common.checks import assert_close, is_close
from transformer_book.pieces.masks import causal_mask, padding_mask


def qkv(batch=2, heads=3, tq=4, tk=5, d_k=8, d_v=6, seed=0):
    g = torch.Generator().manual_seed(seed)
    return (
        torch.randn(batch, heads, tq, d_k, generator=g),
        torch.randn(batch, heads, tk, d_k, generator=g),
        torch.randn(batch, heads, tk, d_v, generator=g),
    )


def test_output_and_weight_shapes():
    q, k, v = qkv()
    out, weights = scaled_dot_product_attention(q, k, v, return_weights=True)
    assert out.shape == (2, 3, 4, 6)
    assert weights.shape == (2, 3, 4, 5)


def test_weights_are_rows_of_a_softmax():
    q, k, _ = qkv()
    weights = attention_weights(q, k)
    assert torch.all(weights >= 0)
    assert_close(weights.sum(-1), torch.ones(2, 3, 4))


def test_scores_are_divided_by_sqrt_dk():
    q, k, _ = qkv(d_k=16)
    assert_close(attention_scores(q, k), q @ k.transpose(-2, -1) / 4.0)


def test_stepwise_matches_torch_sdpa_without_mask():
    q, k, v = qkv()
    out, _ = scaled_dot_product_attention(q, k, v, return_weights=True)
    assert_close(out, F.scaled_dot_product_attention(q, k, v))


@pytest.mark.parametrize("mask_kind", ["causal", "padding", "both"])
def test_both_paths_agree_with_each_other_and_torch(mask_kind):
    q, k, v = qkv(tq=5, tk=5)
    tokens = torch.tensor([[5, 6, 7, 0, 0], [1, 2, 3, 4, 9]])
    masks = {
        "causal": causal_mask(5),
        "padding": padding_mask(tokens, pad_id=0),
        "both": causal_mask(5) & padding_mask(tokens, pad_id=0),
    }
    mask = masks[mask_kind]
    stepwise, _ = scaled_dot_product_attention(q, k, v, mask, return_weights=True)
    fused = scaled_dot_product_attention(q, k, v, mask)
    reference = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    assert_close(stepwise, fused)
    assert_close(stepwise, reference)


def test_masked_positions_get_exactly_zero_weight():
    q, k, _ = qkv(tq=3, tk=5)
    tokens = torch.tensor([[1, 2, 0, 0, 0], [1, 2, 3, 4, 0]])
    weights = attention_weights(q, k, padding_mask(tokens, 0))
    assert torch.all(weights[0, :, :, 2:] == 0.0)
    assert torch.all(weights[1, :, :, 4] == 0.0)
    assert torch.all(weights[0, :, :, :2] > 0.0)


def test_causal_rows_never_see_the_future():
    q, k, v = qkv(tq=6, tk=6)
    out, weights = scaled_dot_product_attention(q, k, v, causal_mask(6), return_weights=True)
    assert torch.all(weights.triu(diagonal=1) == 0.0)
    # Changing the last value changes only the last output position.
    v2 = v.clone()
    v2[..., -1, :] += 100.0
    out2 = scaled_dot_product_attention(q, k, v2, causal_mask(6))
    assert_close(out[..., :-1, :], out2[..., :-1, :])
    assert not is_close(out[..., -1, :], out2[..., -1, :])


def test_works_without_head_dimension():
    g = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(2, 4, 8, generator=g) for _ in range(3))
    mask = causal_mask(4)
    out, w = scaled_dot_product_attention(q, k, v, mask, return_weights=True)
    assert out.shape == (2, 4, 8) and w.shape == (2, 4, 4)
    assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    batch_mask = torch.ones(2, 4, 4, dtype=torch.bool)
    unmasked = scaled_dot_product_attention(q, k, v, batch_mask)
    assert_close(unmasked, F.scaled_dot_product_attention(q, k, v))


def test_a_single_key_gets_all_the_weight():
    q, k, v = qkv(tk=1)
    out, weights = scaled_dot_product_attention(q, k, v, return_weights=True)
    assert torch.all(weights == 1.0)
    assert_close(out, v.expand_as(out))


def test_dropout_only_changes_weights_used_not_returned():
    q, k, v = qkv()
    torch.manual_seed(0)
    out, weights = scaled_dot_product_attention(q, k, v, dropout_p=0.5, return_weights=True)
    assert_close(weights.sum(-1), torch.ones(2, 3, 4))
    assert not is_close(out, weights @ v)


def test_mismatched_dk_is_reported_with_shapes():
    q, k, v = qkv()
    with pytest.raises(ValueError, match=r"d_k.*\(2, 3, 4, 8\).*\(2, 3, 5, 7\)"):
        scaled_dot_product_attention(q, k[..., :7], v)


def test_mismatched_key_value_lengths_are_reported():
    q, k, v = qkv()
    with pytest.raises(ValueError, match="same number of positions"):
        scaled_dot_product_attention(q, k, v[..., :4, :])


def test_mask_of_wrong_shape_is_reported():
    q, k, v = qkv(tq=4, tk=5)
    with pytest.raises(ValueError, match=r"does not broadcast.*keys size is 4, expected 1 or 5"):
        scaled_dot_product_attention(q, k, v, torch.ones(4, 4, dtype=torch.bool))


def test_float_mask_is_rejected():
    q, k, v = qkv(tq=5, tk=5)
    with pytest.raises(TypeError, match="torch.bool"):
        scaled_dot_product_attention(q, k, v, causal_mask(5).float())


@pytest.mark.parametrize("return_weights", [False, True])
def test_a_query_that_may_see_nothing_gets_zero_on_both_paths(return_weights):
    q, k, v = qkv(tq=2, tk=3)
    mask = torch.tensor([[True, True, True], [False, False, False]])
    result = scaled_dot_product_attention(q, k, v, mask, return_weights=return_weights)
    out = result[0] if return_weights else result
    assert torch.all(out[..., 1, :] == 0.0)
    assert_close(out[..., 0, :], F.scaled_dot_product_attention(q, k, v)[..., 0, :])
    if return_weights:
        assert torch.all(result[1][..., 1, :] == 0.0)
        assert_close(result[1][..., 0, :].sum(-1), torch.ones(2, 3))


@pytest.mark.parametrize("return_weights", [False, True])
@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_a_masked_key_cannot_reach_the_output_whatever_it_holds(return_weights, poison):
    q, k, v = qkv(tq=4, tk=5)
    tokens = torch.tensor([[5, 6, 7, 0, 0], [1, 2, 3, 4, 9]])
    mask = padding_mask(tokens, pad_id=0)
    clean = scaled_dot_product_attention(q, k, v, mask, return_weights=return_weights)
    k2, v2 = k.clone(), v.clone()
    k2[0, :, 3:], v2[0, :, 3:] = poison, poison          # the padding keys of row 0
    poisoned = scaled_dot_product_attention(q, k2, v2, mask, return_weights=return_weights)
    first = (lambda r: r[0]) if return_weights else (lambda r: r)
    assert torch.isfinite(first(poisoned)).all()
    assert_close(first(poisoned), first(clean))


def test_a_2d_mask_is_query_by_key_and_a_3d_mask_needs_3d_scores():
    q, k, v = qkv(tq=5, tk=5)
    assert_close(scaled_dot_product_attention(q, k, v, causal_mask(5)),
                 scaled_dot_product_attention(q, k, v, causal_mask(5)[None, None]))
    with pytest.raises(ValueError, match=r"mask must be \(Tq, Tk\) or have the scores' 4 dimensions"):
        scaled_dot_product_attention(q, k, v, torch.ones(2, 5, 5, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask must be a torch.bool tensor"):
        scaled_dot_product_attention(q, k, v, [[True]])


@pytest.mark.parametrize("bad", [-0.1, 1.0, True, float("nan")])
def test_dropout_p_must_be_a_probability(bad):
    q, k, v = qkv()
    with pytest.raises(ValueError, match="dropout_p"):
        scaled_dot_product_attention(q, k, v, dropout_p=bad)


@pytest.mark.parametrize("name", ["query", "key", "value"])
def test_integer_or_non_tensor_inputs_are_refused_by_name(name):
    q, k, v = qkv()
    args = {"query": q, "key": k, "value": v}
    args[name] = args[name].long()
    with pytest.raises(TypeError, match=f"{name} must be a floating-point tensor"):
        scaled_dot_product_attention(**args)
    args[name] = args[name].tolist()
    with pytest.raises(TypeError, match=f"{name} must be a tensor"):
        scaled_dot_product_attention(**args)


def test_attention_weights_checks_the_mask_against_3d_inputs():
    g = torch.Generator().manual_seed(2)
    q, k = torch.randn(2, 4, 8, generator=g), torch.randn(2, 4, 8, generator=g)
    tokens = torch.tensor([[1, 2, 0, 0], [1, 2, 3, 0]])
    # A (B, 1, 1, T) padding mask must not broadcast the batch against itself into (B, B, T, T):
    # with (B, T, d) inputs it is refused, and its (B, 1, T) form works.
    with pytest.raises(ValueError, match="scores' 3 dimensions"):
        attention_weights(q, k, padding_mask(tokens, 0))
    weights = attention_weights(q, k, padding_mask(tokens, 0)[:, 0])
    assert weights.shape == (2, 4, 4)
    assert torch.all(weights[0, :, 2:] == 0) and torch.all(weights[1, :, 3] == 0)
    with pytest.raises(ValueError, match="does not broadcast"):
        attention_weights(q, k, torch.ones(3, 4, 4, dtype=torch.bool))
