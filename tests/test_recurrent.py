"""The Elman RNN loop: parity with nn.RNN, shapes, errors; and the sequential-depth counter."""
import pytest
import torch
from torch import nn

from transformer_book.common.checks import assert_close
from transformer_book.pieces.attention import scaled_dot_product_attention
from transformer_book.pieces.recurrent import ElmanRNN, gradient_norms_by_distance, sequential_depth



def make_pair(input_size=5, hidden_size=7, bias=True, seed=0):
    torch.manual_seed(seed)
    reference = nn.RNN(input_size, hidden_size, batch_first=True, nonlinearity="tanh", bias=bias)
    return reference, ElmanRNN.from_torch(reference)


@pytest.mark.parametrize("bias", [True, False])
def test_equals_nn_rnn_given_the_same_weights(bias):
    reference, ours = make_pair(bias=bias)
    x = torch.randn(3, 11, 5, generator=torch.Generator().manual_seed(1))   # (B, T, D_in)
    want_outputs, want_last = reference(x)
    outputs, last = ours(x)
    assert outputs.shape == (3, 11, 7) and last.shape == (3, 7)
    assert_close(outputs, want_outputs)
    assert_close(last, want_last[0])


def test_equals_nn_rnn_from_a_given_initial_state():
    reference, ours = make_pair()
    g = torch.Generator().manual_seed(2)
    x, h0 = torch.randn(2, 6, 5, generator=g), torch.randn(2, 7, generator=g)
    want_outputs, want_last = reference(x, h0[None])
    outputs, last = ours(x, h0)
    assert_close(outputs, want_outputs)
    assert_close(last, want_last[0])


def test_gradients_match_nn_rnn():
    reference, ours = make_pair()
    x = torch.randn(2, 9, 5, generator=torch.Generator().manual_seed(3))
    reference(x)[1].sum().backward()
    ours(x)[1].sum().backward()
    assert_close(ours.weight_hh.grad, reference.weight_hh_l0.grad)
    assert_close(ours.weight_ih.grad, reference.weight_ih_l0.grad)


def test_last_output_is_the_last_state_and_step_is_one_update():
    _, ours = make_pair()
    x = torch.randn(2, 4, 5)
    outputs, last = ours(x)
    assert torch.equal(outputs[:, -1], last)
    assert torch.equal(ours.step(x[:, 0], torch.zeros(2, 7)), outputs[:, 0])
    assert torch.all(outputs.abs() < 1)  # tanh keeps every state in (-1, 1)


def test_parameter_shapes_and_initial_range_follow_nn_rnn():
    model = ElmanRNN(4, 16)
    reference = nn.RNN(4, 16)
    assert model.weight_ih.shape == reference.weight_ih_l0.shape
    assert model.weight_hh.shape == reference.weight_hh_l0.shape
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in reference.parameters())
    assert all(p.abs().max() <= 0.25 for p in model.parameters())  # 1 / sqrt(16)
    assert ElmanRNN(4, 16, bias=False).bias_ih is None


def test_bad_inputs_raise_clear_errors():
    model = ElmanRNN(5, 7)
    with pytest.raises(ValueError, match=r"\(B, T, D_in\)"):
        model(torch.randn(4, 5))
    with pytest.raises(ValueError, match="D_in=5"):
        model(torch.randn(2, 3, 6))
    with pytest.raises(ValueError, match="T=0"):
        model(torch.randn(2, 0, 5))
    with pytest.raises(ValueError, match="h0"):
        model(torch.randn(2, 3, 5), torch.zeros(1, 2, 7))
    with pytest.raises(ValueError, match="hidden_size"):
        ElmanRNN(5, 0)


def test_from_torch_rejects_what_it_cannot_copy():
    with pytest.raises(ValueError, match="one layer"):
        ElmanRNN.from_torch(nn.RNN(3, 4, num_layers=2))
    with pytest.raises(ValueError, match="tanh"):
        ElmanRNN.from_torch(nn.RNN(3, 4, nonlinearity="relu"))
    with pytest.raises(TypeError, match="nn.RNN"):
        ElmanRNN.from_torch(nn.GRU(3, 4))


def test_rnn_depth_grows_by_a_fixed_amount_per_step():
    model = ElmanRNN(3, 4)
    depths = []
    for length in (1, 2, 5, 40):
        x = torch.randn(1, length, 3, requires_grad=True)
        depths.append(sequential_depth(model(x)[1]))
    per_step = depths[1] - depths[0]
    assert per_step >= 1
    assert depths == [depths[0] + per_step * (length - 1) for length in (1, 2, 5, 40)]


def test_attention_depth_does_not_grow_with_length():
    depths = set()
    for length in (1, 8, 300):
        x = torch.randn(2, length, 4, requires_grad=True)
        depths.add(sequential_depth(scaled_dot_product_attention(x, x, x, return_weights=True)[0]))
    assert len(depths) == 1


def test_depth_of_simple_chains():
    a = torch.randn(3, requires_grad=True)
    assert sequential_depth(a * 2) == 1
    assert sequential_depth(((a * 2).exp() + 1).sum()) == 4
    b = torch.randn(3, requires_grad=True)
    assert sequential_depth((a * 2).exp() + b) == 3   # the longest chain wins, not the total


def test_depth_needs_autograd_history():
    with pytest.raises(ValueError, match="autograd history"):
        sequential_depth(torch.randn(3))
    with pytest.raises(TypeError):
        sequential_depth([1, 2])


def test_gradient_norms_by_distance_match_autograd_position_by_position():
    torch.manual_seed(4)
    model = ElmanRNN(3, 5).double()
    x = torch.randn(1, 6, 3, dtype=torch.float64)
    norms = gradient_norms_by_distance(lambda x: model(x)[1], x)
    assert norms.shape == (6,) and norms.dtype == torch.float64
    for t in range(6):                                    # one output number at a time, by backward
        rows = []
        for i in range(5):
            x_t = x.clone().requires_grad_(True)
            model(x_t)[1][0, i].backward()
            rows.append(x_t.grad[0, t])
        want = torch.stack(rows).pow(2).sum().sqrt()
        assert_close(norms[6 - 1 - t], want)             # ordered by distance: entry 0 is the last position


def test_gradient_norm_at_distance_zero_is_the_input_weight_through_tanh():
    torch.manual_seed(5)
    model = ElmanRNN(4, 4).double()
    x = torch.randn(1, 3, 4, dtype=torch.float64)
    outputs, last = model(x)
    want = (torch.diag(1 - last[0] ** 2) @ model.weight_ih).detach().norm()   # d h_T / d x_T
    assert_close(gradient_norms_by_distance(lambda x: model(x)[1], x)[0], want)


def test_gradient_norms_of_bare_attention_reach_every_position():
    x = torch.randn(1, 10, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    norms = gradient_norms_by_distance(lambda x: scaled_dot_product_attention(x, x, x)[:, -1], x)
    assert torch.all(norms > 0)


def test_gradient_norms_refuse_bad_inputs():
    model = ElmanRNN(3, 5)
    with pytest.raises(ValueError, match=r"\(1, T, D\)"):
        gradient_norms_by_distance(lambda x: model(x)[1], torch.randn(2, 4, 3))
    with pytest.raises(TypeError, match="floating-point"):
        gradient_norms_by_distance(lambda x: x, torch.ones(1, 4, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="callable"):
        gradient_norms_by_distance(None, torch.randn(1, 4, 3))
