"""Greedy decoding, beam search and sampling on tiny random models, checked against brute force."""
import itertools

import pytest
import torch

from transformer_book.encoder_decoder.batching import BOS_ID, EOS_ID, PAD_ID
from transformer_book.common.checks import assert_close
from transformer_book.encoder_decoder.decoding import (StepDecoder, attention_maps, beam_search, beam_search_one,
    gnmt_length_penalty, greedy_decode, hypotheses, sample, score_hypotheses)
from transformer_book.common.sampling import filter_logits, sampling_probs
from transformer_book.encoder_decoder.model import make_model

VOCAB = 6                                   # PAD, UNK, BOS, EOS and two words
OUTPUTS = [1, 4, 5]                         # the tokens a hypothesis may hold (not PAD, BOS, EOS)
SRC = torch.tensor([[4, 5, 1, EOS_ID], [5, 4, EOS_ID, PAD_ID], [4, EOS_ID, PAD_ID, PAD_ID]])  # (3, 4)


def tiny_model(seed: int, eos_bias: float = -1.0, vocab: int = VOCAB):
    """A random 1-layer model with d_model 16; ``eos_bias`` makes ending less likely, so that
    hypotheses of several lengths compete."""
    torch.manual_seed(seed)
    model = make_model(vocab, N=1, d_model=16, d_ff=32, h=2, dropout=0.0, shared_vocab=True).eval()
    with torch.no_grad():
        model.generator.proj.bias[EOS_ID] += eos_bias
    return model


def exhaustive_best(model, src_row, max_len, alpha):
    """Score every possible output (ended by EOS within max_len, or cut at max_len) by teacher
    forcing and return the best (tokens, score)."""
    candidates = [list(seq) for n in range(max_len + 1) for seq in itertools.product(OUTPUTS, repeat=n)]
    sources = src_row[None].expand(len(candidates), -1)
    _, scores = score_hypotheses(model, sources, candidates, max_len=max_len, length_penalty=alpha)
    best = int(scores.argmax())
    top2 = scores.topk(2).values
    assert top2[0] - top2[1] > 1e-4, "a near-tie would make the comparison fragile"
    return candidates[best], float(scores[best])


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.5, 3.0])
def test_wide_beam_finds_the_exhaustive_optimum(alpha):
    max_len = 4
    # Wide enough to keep every prefix: 4 finite extensions of 3^(max_len-2) prefixes at step max_len-1.
    beam = 4 * 3 ** (max_len - 2)
    differs_from_greedy = 0
    for seed, eos_bias in itertools.product(range(4), (-1.0, 0.5)):
        model = tiny_model(seed, eos_bias)
        hyps, scores = beam_search(model, SRC, beam, max_len, alpha, return_scores=True)
        greedy = hypotheses(greedy_decode(model, SRC, max_len))
        for row in range(SRC.shape[0]):
            best, best_score = exhaustive_best(model, SRC[row], max_len, alpha)
            assert hyps[row] == best
            assert_close(torch.tensor(scores[row]), torch.tensor(best_score), what="beam score")
            differs_from_greedy += best != greedy[row]
    assert differs_from_greedy > 0  # otherwise the test could not tell beam search from greedy


def test_returned_scores_match_teacher_forcing():
    model = tiny_model(1, eos_bias=-0.5)
    hyps, scores = beam_search(model, SRC, 3, 6, 0.6, return_scores=True)
    _, rescored = score_hypotheses(model, SRC, hyps, max_len=6, length_penalty=0.6)
    assert_close(torch.tensor(scores), rescored, what="beam scores against teacher forcing")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_size_one_is_greedy(seed):
    # EOS made likely enough that greedy ends early in some rows: a large alpha would then tempt a
    # search that did not stop at K = 1 finished hypothesis into continuing, towards longer outputs.
    model = tiny_model(seed, eos_bias=2.0, vocab=20)
    src = torch.randint(4, 20, (5, 7), generator=torch.Generator().manual_seed(seed))
    src[:, -1] = EOS_ID
    greedy = hypotheses(greedy_decode(model, src, 12))
    assert any(len(hyp) < 12 for hyp in greedy)
    for alpha in (0.0, 0.6, 3.0):
        assert beam_search(model, src, 1, 12, length_penalty=alpha) == greedy


@pytest.mark.parametrize("use_cache", [True, False])
def test_finished_hypotheses_are_never_extended(monkeypatch, use_cache):
    model = tiny_model(1, eos_bias=-1.0)     # some hypotheses finish early, the search goes on
    prefixes = []
    logits = StepDecoder.logits

    def recording_logits(self, prefix):
        prefixes.append(prefix.clone())
        return logits(self, prefix)

    monkeypatch.setattr(StepDecoder, "logits", recording_logits)
    trace = []
    hyps = beam_search(model, SRC, 4, 8, 0.6, trace=trace, use_cache=use_cache)
    assert len(prefixes) == len(trace) >= 2
    for prefix in prefixes:
        assert not (prefix == EOS_ID).any()          # no row fed to the decoder had ended
        assert (prefix[:, 0] == BOS_ID).all()
    early = [h for step in trace[:-1] for fin in step.finished for h in fin]
    assert early, "some hypotheses must finish before the last step for this test to mean anything"
    for hyp in hyps:
        assert EOS_ID not in hyp and BOS_ID not in hyp and PAD_ID not in hyp
    # A finished hypothesis is recorded once and stays as it was.
    last = trace[-1].finished
    for step in trace:
        for b, fin in enumerate(step.finished):
            assert fin == last[b][: len(fin)]


def test_batch_with_padding_decodes_like_one_at_a_time():
    model = tiny_model(0, eos_bias=0.0, vocab=20)
    lengths = [7, 3, 5, 1]
    rows = [torch.randint(4, 20, (n - 1,)).tolist() + [EOS_ID] for n in lengths]
    src = torch.full((len(rows), max(lengths)), PAD_ID)
    for i, row in enumerate(rows):
        src[i, : len(row)] = torch.tensor(row)
    batch_greedy = hypotheses(greedy_decode(model, src, 10))
    batch_beam, batch_scores = beam_search(model, src, 4, 10, return_scores=True)
    for i, row in enumerate(rows):
        alone = torch.tensor([row])
        assert hypotheses(greedy_decode(model, alone, 10)) == [batch_greedy[i]]
        beam, score = beam_search(model, alone, 4, 10, return_scores=True)
        assert beam == [batch_beam[i]]
        assert_close(torch.tensor(score[0]), torch.tensor(batch_scores[i]), what="score alone against batched")


def test_greedy_output_format_and_early_stop():
    model = tiny_model(2, eos_bias=3.0)              # ends almost at once
    out = greedy_decode(model, SRC, 20)
    assert out.dtype == torch.long and out.shape[0] == SRC.shape[0] and out.shape[1] < 20
    for row in out.tolist():
        assert EOS_ID in row
        assert all(t == PAD_ID for t in row[row.index(EOS_ID) + 1 :])
    model = tiny_model(2, eos_bias=-50.0)            # never ends: cut at max_len
    out = greedy_decode(model, SRC, 5)
    assert out.shape == (SRC.shape[0], 5) and not (out == EOS_ID).any()


def test_model_mode_is_restored():
    model = tiny_model(0)
    model.train()
    greedy_decode(model, SRC, 3)
    beam_search(model, SRC, 2, 3)
    assert model.training


def test_length_penalty_formula():
    assert gnmt_length_penalty(1, 0.6) == pytest.approx(1.0)
    assert gnmt_length_penalty(7, 1.0) == pytest.approx(2.0)
    assert gnmt_length_penalty(10, 0.0) == 1.0


# ---------------------------------------------------------------------------------------------
# sampling


def test_top_k_one_sampling_is_greedy():
    model = tiny_model(4, eos_bias=0.0, vocab=20)
    src = torch.randint(4, 20, (4, 6))
    src[:, -1] = EOS_ID
    greedy = greedy_decode(model, src, 10)
    for temperature in (0.5, 1.0, 3.0):
        gen = torch.Generator().manual_seed(0)
        assert torch.equal(sample(model, src, 10, temperature=temperature, top_k=1, generator=gen), greedy)


def test_top_p_keeps_the_smallest_set_with_enough_mass():
    probs = torch.tensor([0.05, 0.4, 0.1, 0.3, 0.15])
    logits = probs.log()
    cases = {0.4: {1}, 0.41: {1, 3}, 0.7: {1, 3}, 0.71: {1, 3, 4}, 0.85: {1, 3, 4}, 0.9: {1, 3, 4, 2}, 1.0: {0, 1, 2, 3, 4}}
    for p, expected in cases.items():
        kept = set(torch.isfinite(filter_logits(logits, top_p=p)).nonzero().flatten().tolist())
        assert kept == expected, (p, kept)
        assert probs[list(kept)].sum() >= p - 1e-6
    filtered = sampling_probs(logits, top_p=0.7)
    assert_close(filtered, torch.tensor([0.0, 0.4, 0.0, 0.3, 0.0]) / 0.7, what="renormalised nucleus")


def test_top_k_keeps_exactly_k_and_temperature_sharpens():
    logits = torch.tensor([[1.0, 3.0, 2.0, 0.5], [0.0, 0.0, 5.0, 1.0]])
    kept = torch.isfinite(filter_logits(logits, top_k=2))
    assert kept.tolist() == [[False, True, True, False], [False, False, True, True]]
    cold, hot = sampling_probs(logits, temperature=0.5), sampling_probs(logits, temperature=2.0)
    assert (cold.max(dim=-1).values > hot.max(dim=-1).values).all()
    assert_close(sampling_probs(logits, temperature=0.5), (logits * 2).softmax(-1), what="temperature 0.5")


def test_seeded_sampling_is_reproducible_and_varies_with_the_seed():
    model = tiny_model(5, eos_bias=-1.0, vocab=20)
    src = torch.randint(4, 20, (6, 5))
    src[:, -1] = EOS_ID

    def draw(seed):
        return sample(model, src, 12, temperature=1.5, top_p=0.95, generator=torch.Generator().manual_seed(seed))

    first = draw(0)
    assert torch.equal(first, draw(0))
    assert not torch.equal(first, draw(1))
    assert not ((first == PAD_ID) & (torch.cumsum(first == EOS_ID, 1) == 0)).any()  # no PAD before EOS
    assert not (first == BOS_ID).any()


# ---------------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize("beam_size", [0, -1, 1.5, True])
def test_bad_beam_size(beam_size):
    with pytest.raises(ValueError, match="beam_size"):
        beam_search(tiny_model(0), SRC, beam_size, 5)


@pytest.mark.parametrize("temperature", [0, -1.0, 0.0])
def test_bad_temperature(temperature):
    with pytest.raises(ValueError, match="temperature"):
        sample(tiny_model(0), SRC, 5, temperature=temperature)


@pytest.mark.parametrize("top_p", [0, 0.0, -0.1, 1.01, 2])
def test_bad_top_p(top_p):
    with pytest.raises(ValueError, match="top_p"):
        sample(tiny_model(0), SRC, 5, top_p=top_p)
    with pytest.raises(ValueError, match="top_p"):
        filter_logits(torch.zeros(3), top_p=top_p)


def test_other_bad_arguments():
    model = tiny_model(0)
    with pytest.raises(ValueError, match="top_k"):
        sample(model, SRC, 5, top_k=0)
    with pytest.raises(ValueError, match="max_len"):
        greedy_decode(model, SRC, 0)
    with pytest.raises(ValueError, match="length_penalty"):
        beam_search(model, SRC, 2, 5, length_penalty=-0.5)
    with pytest.raises(ValueError, match="all padding"):
        greedy_decode(model, torch.tensor([[4, EOS_ID], [PAD_ID, PAD_ID]]), 5)
    with pytest.raises(ValueError, match="batch, seq"):
        beam_search(model, torch.tensor([4, EOS_ID]), 2, 5)


# ---------------------------------------------------------------------------------------------
# attention maps


@pytest.mark.parametrize("norm_first", [False, True])
def test_attention_maps_shapes_masks_and_values(norm_first):
    torch.manual_seed(0)
    model = make_model(VOCAB, N=2, d_model=16, d_ff=32, h=4, dropout=0.1, shared_vocab=True, norm_first=norm_first)
    model.train()
    tgt = torch.tensor([[BOS_ID, 4, 5], [BOS_ID, 5, PAD_ID], [BOS_ID, 1, 4]])
    maps = attention_maps(model, SRC, tgt)
    assert model.training                               # mode restored
    assert len(maps.encoder_self) == len(maps.decoder_self) == len(maps.cross) == 2
    assert maps.encoder_self[0].shape == (3, 4, 4, 4)
    assert maps.decoder_self[0].shape == (3, 4, 3, 3)
    assert maps.cross[0].shape == (3, 4, 3, 4)
    for weights in maps.encoder_self + maps.decoder_self + maps.cross:
        assert_close(weights.sum(-1), torch.ones(weights.shape[:-1]), what="attention row sums")
    pad = SRC == PAD_ID                                 # (B, S): no query looks at source padding
    assert (maps.cross[1].masked_select(pad[:, None, None, :]) == 0).all()
    assert (maps.encoder_self[0].masked_select(pad[:, None, None, :]) == 0).all()
    assert (maps.decoder_self[0].triu(1) == 0).all()   # nor ahead in the target
    # The first encoder layer's weights, by hand from its own projections.
    model.eval()
    layer = model.encoder.layers[0]
    x = model.src_embed(SRC)
    if norm_first:
        x = layer.attention_block.norm(x)
    q = layer.self_attention.split_heads(layer.self_attention.w_q(x))
    k = layer.self_attention.split_heads(layer.self_attention.w_k(x))
    scores = (q @ k.transpose(-2, -1) / 2.0).masked_fill(pad[:, None, None, :], float("-inf"))  # d_k = 4
    assert_close(maps.encoder_self[0], scores.softmax(-1), what="first encoder layer's weights")


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_the_readable_beam_search_agrees_with_the_batched_one(seed):
    # EOS biased differently per seed, so that some sentences finish early and some run to max_len;
    # row 1 is padded. Same hypotheses, same scores (float32: the rows run in different batches).
    model = tiny_model(seed, eos_bias=(seed - 1.5) * 0.8, vocab=12)
    src = torch.randint(4, 12, (4, 6), generator=torch.Generator().manual_seed(seed))
    src[:, -1] = EOS_ID
    src[1, 3], src[1, 4:] = EOS_ID, PAD_ID
    for beam_size in (1, 2, 3, 5):
        for alpha in (0.0, 0.6, 2.0):
            hyps, scores = beam_search(model, src, beam_size, 7, alpha, return_scores=True)
            for row in range(4):
                tokens, score = beam_search_one(model, src[row : row + 1], beam_size, 7, alpha)
                assert tokens == hyps[row], (beam_size, alpha, row)
                assert_close(torch.tensor(score), torch.tensor(scores[row]), what="beam score")


def test_the_readable_beam_search_takes_one_sentence():
    model = tiny_model(0)
    with pytest.raises(ValueError, match="one sentence"):
        beam_search_one(model, SRC, 2, 5)
