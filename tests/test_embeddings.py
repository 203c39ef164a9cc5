import math

import pytest
import torch

from transformer_book.common.checks import assert_close
from transformer_book.pieces.embeddings import (Embeddings, LearnedPositionalEncoding, PositionalEncoding,
    sinusoidal_table)


def test_embeddings_scale_by_sqrt_d_model():
    torch.manual_seed(0)
    emb = Embeddings(vocab_size=11, d_model=16)
    tokens = torch.tensor([[1, 2, 3], [4, 5, 10]])
    out = emb(tokens)
    assert out.shape == (2, 3, 16)
    assert torch.allclose(out, emb.lookup.weight[tokens] * 4.0)


def test_embeddings_padding_index_is_zero():
    emb = Embeddings(vocab_size=5, d_model=4, padding_idx=0)
    assert torch.all(emb(torch.tensor([[0, 0]])) == 0)


def test_embeddings_reject_out_of_range_ids():
    emb = Embeddings(vocab_size=5, d_model=4)
    with pytest.raises(IndexError, match=r"\[0, 5\).*from 0 to 5"):
        emb(torch.tensor([[0, 5]]))


def test_embeddings_reject_float_ids():
    with pytest.raises(TypeError, match="integer"):
        Embeddings(5, 4)(torch.tensor([[0.0, 1.0]]))


def test_sinusoidal_table_matches_the_formula():
    table = sinusoidal_table(50, 8)
    pos, i = 7, 2
    assert_close(table[pos, 2 * i], torch.tensor(math.sin(pos / 10000 ** (2 * i / 8)), dtype=torch.float64))
    assert_close(table[pos, 2 * i + 1], torch.tensor(math.cos(pos / 10000 ** (2 * i / 8)), dtype=torch.float64))
    assert torch.all(table[0, 0::2] == 0) and torch.all(table[0, 1::2] == 1)


def test_sinusoidal_table_odd_width():
    table = sinusoidal_table(10, 7)
    assert table.shape == (10, 7)
    assert_close(table[:, 6], torch.sin(torch.arange(10.0) * 10000 ** (-6 / 7)))


def test_relative_offset_is_a_rotation():
    d, k = 16, 5
    table = sinusoidal_table(100, d)
    freqs = 10000 ** (-torch.arange(0, d, 2) / d)
    rot = torch.zeros(d, d)
    for j, w in enumerate(freqs):
        c, s = math.cos(k * w), math.sin(k * w)
        rot[2 * j : 2 * j + 2, 2 * j : 2 * j + 2] = torch.tensor([[c, s], [-s, c]])
    assert_close(table[k:], table[:-k] @ rot.T, what="shifted table against rotated table")


def test_positional_encoding_adds_table_and_offsets():
    pe = PositionalEncoding(d_model=8, max_len=20)
    x = torch.zeros(2, 5, 8)
    assert torch.allclose(pe(x), sinusoidal_table(20, 8)[:5].expand(2, 5, 8))
    assert torch.allclose(pe(x, offset=3)[0], sinusoidal_table(20, 8)[3:8])
    assert "table" not in pe.state_dict()


@pytest.mark.parametrize("module", [PositionalEncoding(8, max_len=6), LearnedPositionalEncoding(8, max_len=6)])
def test_sequence_longer_than_table_is_reported(module):
    with pytest.raises(ValueError, match="max_len=6"):
        module(torch.zeros(1, 7, 8))


@pytest.mark.parametrize("module", [PositionalEncoding(8), LearnedPositionalEncoding(8)])
def test_wrong_width_is_reported(module):
    with pytest.raises(ValueError, match=r"\(batch, seq, 8\), got \(1, 3, 6\)"):
        module(torch.zeros(1, 3, 6))


def test_learned_positions_are_trained():
    pe = LearnedPositionalEncoding(4, max_len=10)
    pe(torch.zeros(1, 3, 4)).sum().backward()
    grad = pe.table.weight.grad
    assert torch.all(grad[:3] == 1) and torch.all(grad[3:] == 0)


def test_embeddings_start_small_so_scaled_vectors_match_the_sinusoids():
    torch.manual_seed(0)
    d_model = 256
    emb = Embeddings(5000, d_model, padding_idx=0)
    weight = emb.lookup.weight.detach()
    assert torch.equal(weight[0], torch.zeros(d_model))                        # the padding row
    std = weight[1:].std().item()
    assert abs(std * d_model ** 0.5 - 1.0) < 0.02                              # N(0, 1/d_model)
    scaled = emb(torch.arange(1, 5000)[None])                                   # (1, V-1, D)
    ratio = scaled.norm(dim=-1).mean() / (d_model / 2) ** 0.5                   # against the positions
    assert 1.2 < ratio < 1.6                                                    # sqrt(2) in expectation
