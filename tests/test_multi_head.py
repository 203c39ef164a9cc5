"""MultiHeadAttention: shapes, masks, parity with nn.MultiheadAttention, errors."""
import pytest
import torch

from transformer_book.common.checks import assert_close
from transformer_book.pieces.masks import causal_mask, padding_mask
from transformer_book.pieces.multi_head import MultiHeadAttention
from transformer_book.encoder_decoder.parity import to_torch_attention



@pytest.fixture
def mha():
    torch.manual_seed(0)
    return MultiHeadAttention(d_model=16, num_heads=4).eval()


def test_self_attention_shapes(mha):
    x = torch.randn(3, 7, 16)
    out, weights = mha(x, x, x, return_weights=True)
    assert out.shape == (3, 7, 16)
    assert weights.shape == (3, 4, 7, 7)


def test_cross_attention_takes_length_from_queries(mha):
    decoder_states, encoder_out = torch.randn(2, 3, 16), torch.randn(2, 9, 16)
    out, weights = mha(decoder_states, encoder_out, encoder_out, return_weights=True)
    assert out.shape == (2, 3, 16)
    assert weights.shape == (2, 4, 3, 9)


def test_split_and_merge_heads_are_inverse(mha):
    x = torch.randn(2, 5, 16)
    assert mha.split_heads(x).shape == (2, 4, 5, 4)
    assert torch.equal(mha.merge_heads(mha.split_heads(x)), x)


def test_parameter_count(mha):
    assert sum(p.numel() for p in mha.parameters()) == 4 * 16 * 16 + 4 * 16


def test_parity_with_nn_multihead_attention_self(mha):
    x = torch.randn(2, 6, 16)
    ref = to_torch_attention(mha).eval()
    out, weights = mha(x, x, x, return_weights=True)
    ref_out, ref_weights = ref(x, x, x, need_weights=True, average_attn_weights=False)
    assert_close(out, ref_out)
    assert_close(weights, ref_weights)


def test_parity_with_nn_multihead_attention_cross_with_padding(mha):
    queries, memory = torch.randn(2, 4, 16), torch.randn(2, 6, 16)
    tokens = torch.tensor([[3, 4, 5, 6, 0, 0], [1, 2, 3, 4, 5, 6]])
    ref = to_torch_attention(mha).eval()
    out = mha(queries, memory, memory, padding_mask(tokens, 0))
    # nn.MultiheadAttention's boolean key_padding_mask means the opposite: True = ignore.
    ref_out, _ = ref(queries, memory, memory, key_padding_mask=tokens == 0)
    assert_close(out, ref_out)


def test_parity_with_nn_multihead_attention_causal(mha):
    x = torch.randn(2, 5, 16)
    ref = to_torch_attention(mha).eval()
    out = mha(x, x, x, causal_mask(5)[None, None])
    ref_out, _ = ref(x, x, x, attn_mask=~causal_mask(5))
    assert_close(out, ref_out)


def test_fused_and_stepwise_paths_agree(mha):
    x = torch.randn(2, 5, 16)
    mask = causal_mask(5)[None, None]
    assert_close(mha(x, x, x, mask), mha(x, x, x, mask, return_weights=True)[0])


def test_determinism_under_a_seed():
    torch.manual_seed(123)
    a = MultiHeadAttention(8, 2)
    torch.manual_seed(123)
    b = MultiHeadAttention(8, 2)
    x = torch.randn(1, 3, 8)
    assert torch.equal(a(x, x, x), b(x, x, x))


def test_dropout_is_active_only_in_training():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 2, dropout=0.5)
    x = torch.randn(1, 4, 8)
    mha.eval()
    assert torch.equal(mha(x, x, x), mha(x, x, x))
    mha.train()
    assert not torch.equal(mha(x, x, x), mha(x, x, x))


def test_d_model_not_divisible_by_heads_names_the_sizes():
    with pytest.raises(ValueError, match="d_model=10 must be divisible by num_heads=4"):
        MultiHeadAttention(10, 4)


def test_wrong_input_width_is_reported(mha):
    with pytest.raises(ValueError, match=r"query must have shape \(batch, seq, d_model=16\), got \(2, 3, 8\)"):
        mha(torch.randn(2, 3, 8), torch.randn(2, 3, 16), torch.randn(2, 3, 16))


def test_batch_mismatch_is_reported(mha):
    with pytest.raises(ValueError, match="same batch size"):
        mha(torch.randn(2, 3, 16), torch.randn(1, 3, 16), torch.randn(1, 3, 16))


def test_key_value_length_mismatch_is_reported(mha):
    with pytest.raises(ValueError, match="key and value must have the same length"):
        mha(torch.randn(2, 3, 16), torch.randn(2, 4, 16), torch.randn(2, 5, 16))


def test_wrong_mask_shape_is_reported(mha):
    x = torch.randn(2, 5, 16)
    with pytest.raises(ValueError, match="does not broadcast"):
        mha(x, x, x, causal_mask(4)[None, None])


def test_a_2d_mask_is_refused_since_padding_and_query_key_masks_look_alike(mha):
    # Batch 5 and length 5: a (B, T) padding mask has the shape of a (Tq, Tk) mask.
    x = torch.randn(5, 5, 16)
    tokens = torch.tensor([[1, 2, 0, 0, 0]] * 5)
    with pytest.raises(ValueError, match="mask must have 4 dimensions.*padding_mask"):
        mha(x, x, x, tokens != 0)
    with pytest.raises(ValueError, match="mask must have 4 dimensions"):
        mha(x, x, x, torch.ones(5, 5, 5, dtype=torch.bool))
    assert_close(mha(x, x, x, padding_mask(tokens, 0)), mha(x, x, x, (tokens != 0)[:, None, None, :]))


@pytest.mark.parametrize("kwargs, match", [
    (dict(d_model=0, num_heads=1), "d_model must be an integer >= 1"),
    (dict(d_model=8, num_heads=0), "num_heads must be an integer >= 1"),
    (dict(d_model=8.0, num_heads=2), "d_model must be an integer"),
    (dict(d_model=8, num_heads=2, dropout=1.5), r"dropout must be in \[0, 1\)"),
    (dict(d_model=8, num_heads=2, dropout=-0.1), r"dropout must be in \[0, 1\)"),
])
def test_bad_sizes_and_dropout_are_refused_when_built(kwargs, match):
    with pytest.raises(ValueError, match=match):
        MultiHeadAttention(**kwargs)


def test_integer_inputs_are_refused_by_name(mha):
    x = torch.randn(2, 3, 16)
    with pytest.raises(TypeError, match="key must be a floating-point tensor"):
        mha(x, x.long(), x)
