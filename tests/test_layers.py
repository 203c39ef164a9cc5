"""Feed-forward, residual + LayerNorm in both orders, and the encoder layer against PyTorch's."""
import pytest
import torch
from torch import nn

from transformer_book.common.checks import assert_close, is_close
from transformer_book.encoder_decoder.encoder import EncoderLayer
from transformer_book.pieces.feed_forward import PositionwiseFeedForward
from transformer_book.pieces.masks import padding_mask
from transformer_book.encoder_decoder.parity import to_torch_encoder_layer
from transformer_book.pieces.sublayers import SublayerConnection



def test_feed_forward_shapes_and_positionwise():
    torch.manual_seed(0)
    ffn = PositionwiseFeedForward(8, 32)
    x = torch.randn(2, 5, 8)
    out = ffn(x)
    assert out.shape == (2, 5, 8)
    # Each position is transformed on its own.
    assert_close(out[:, 2], ffn(x[:, 2:3])[:, 0])


def test_feed_forward_is_relu_mlp():
    torch.manual_seed(0)
    ffn = PositionwiseFeedForward(4, 6)
    x = torch.randn(3, 4)
    expected = torch.relu(x @ ffn.linear1.weight.T + ffn.linear1.bias) @ ffn.linear2.weight.T + ffn.linear2.bias
    assert_close(ffn(x), expected)


@pytest.mark.parametrize("activation", ["gelu", "gelu_tanh"])
def test_feed_forward_other_activations(activation):
    torch.manual_seed(0)
    ffn = PositionwiseFeedForward(4, 6, activation=activation)
    relu = PositionwiseFeedForward(4, 6)
    relu.load_state_dict(ffn.state_dict())
    x = torch.randn(3, 4)
    assert not is_close(ffn(x), relu(x))


def test_unknown_activation_is_reported():
    with pytest.raises(ValueError, match="'swish'"):
        PositionwiseFeedForward(4, 6, activation="swish")


def test_sublayer_connection_orders():
    torch.manual_seed(0)
    sub = nn.Linear(6, 6)
    x = torch.randn(2, 3, 6)
    post = SublayerConnection(6, norm_first=False)
    pre = SublayerConnection(6, norm_first=True)
    assert_close(post(x, sub), nn.functional.layer_norm(x + sub(x), (6,)))
    assert_close(pre(x, sub), x + sub(nn.functional.layer_norm(x, (6,))))


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("training", [False, True])
def test_encoder_layer_matches_torch(norm_first, training):
    torch.manual_seed(0)
    book = EncoderLayer(16, 4, 32, dropout=0.0, norm_first=norm_first)
    # Random LayerNorm gains and biases, so that a swapped norm would be noticed.
    for norm in (book.attention_block.norm, book.feed_forward_block.norm):
        nn.init.normal_(norm.weight)
        nn.init.normal_(norm.bias)
    ref = to_torch_encoder_layer(book)
    book.train(training)
    ref.train(training)
    x = torch.randn(3, 6, 16)
    tokens = torch.tensor([[1, 2, 3, 4, 5, 6], [1, 2, 3, 0, 0, 0], [1, 2, 3, 4, 5, 0]])
    out = book(x, padding_mask(tokens, 0))
    ref_out = ref(x, src_key_padding_mask=tokens == 0)
    valid = tokens != 0  # PyTorch's fast path may zero the padded positions; compare the real ones
    assert_close(out[valid], ref_out[valid])
    assert_close(book(x), ref(x))


def test_encoder_layer_gradients_match_torch():
    torch.manual_seed(0)
    book = EncoderLayer(8, 2, 16, dropout=0.0, norm_first=True)
    ref = to_torch_encoder_layer(book)
    x = torch.randn(2, 4, 8)
    book(x).pow(2).sum().backward()
    ref(x).pow(2).sum().backward()
    assert_close(book.feed_forward.linear1.weight.grad, ref.linear1.weight.grad)


def test_encoder_layer_dropout_changes_output_in_training_only():
    torch.manual_seed(0)
    layer = EncoderLayer(8, 2, 16, dropout=0.5)
    x = torch.randn(2, 4, 8)
    layer.eval()
    assert torch.equal(layer(x), layer(x))
    layer.train()
    assert not torch.equal(layer(x), layer(x))


def test_encoder_layer_puts_dropout_where_the_paper_does_by_default():
    layer = EncoderLayer(8, 2, 16, dropout=0.3)
    assert layer.attention_block.dropout.p == layer.feed_forward_block.dropout.p == 0.3
    assert layer.self_attention.dropout == 0.0 and layer.feed_forward.dropout.p == 0.0
    torch_style = EncoderLayer(8, 2, 16, dropout=0.3, attention_dropout=0.3, activation_dropout=0.3)
    assert torch_style.self_attention.dropout == 0.3 and torch_style.feed_forward.dropout.p == 0.3


@pytest.mark.parametrize("where", ["attention_dropout", "activation_dropout"])
def test_each_inner_dropout_acts_in_training_only(where):
    torch.manual_seed(0)
    x = torch.randn(2, 4, 8)
    quiet = EncoderLayer(8, 2, 16, dropout=0.0).train()
    assert torch.equal(quiet(x), quiet(x))                      # no dropout anywhere: deterministic
    layer = EncoderLayer(8, 2, 16, dropout=0.0, **{where: 0.5})
    layer.train()
    assert not torch.equal(layer(x), layer(x))
    layer.eval()
    assert torch.equal(layer(x), layer(x))
