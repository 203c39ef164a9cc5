"""The encoder-decoder's key-value cache: decoding with it gives what decoding without it gives.

Tolerance: ``assert_close``'s float32 rule (``common.checks``). The cached and the uncached paths
run the same layers on the same numbers, but in matrix products of different shapes (one new
position against the whole prefix), so they differ by float32 roundings only; token choices are
compared exactly, on seeded random models whose best tokens are not near ties.
"""
import pytest
import torch

from transformer_book.common.checks import assert_close
from transformer_book.encoder_decoder.batching import BOS_ID, EOS_ID, PAD_ID
from transformer_book.encoder_decoder.decoder import LayerCache
from transformer_book.encoder_decoder.decoding import StepDecoder, beam_search, decode_loop, greedy_decode, sample
from transformer_book.encoder_decoder.model import make_model

VOCAB = 24


def random_model(seed: int, norm_first: bool = True, eos_bias: float = 0.0, layers: int = 2):
    torch.manual_seed(seed)
    model = make_model(VOCAB, N=layers, d_model=32, d_ff=64, h=4, dropout=0.1, shared_vocab=True,
                       norm_first=norm_first).eval()
    with torch.no_grad():
        model.generator.proj.bias[EOS_ID] += eos_bias
    return model


def random_source(seed: int, batch: int = 5, length: int = 9) -> torch.Tensor:
    """``(batch, length)`` ids ending in EOS, rows of different lengths (padding after EOS)."""
    generator = torch.Generator().manual_seed(seed)
    src = torch.randint(4, VOCAB, (batch, length), generator=generator)
    for row in range(batch):
        end = length - 1 - (row * 2) % (length - 1)
        src[row, end] = EOS_ID
        src[row, end + 1:] = PAD_ID
    return src


@pytest.mark.parametrize("norm_first", [True, False])
def test_decode_step_gives_the_states_of_decode(norm_first):
    model = random_model(0, norm_first)
    src = random_source(0)
    tgt = torch.randint(4, VOCAB, (src.shape[0], 7), generator=torch.Generator().manual_seed(1))
    tgt[:, 0] = BOS_ID
    with torch.no_grad():
        src_mask = model.source_mask(src)
        memory = model.encode(src, src_mask)
        expected = model.decode(memory, src_mask, tgt)                               # (B, 7, D)
        cache = model.start_decoding(memory, src_mask)
        pieces = [model.decode_step(cache, tgt[:, :3])]                                # three at once
        pieces += [model.decode_step(cache, tgt[:, t : t + 1]) for t in range(3, 7)]   # then one by one
    assert cache.length == 7
    assert_close(torch.cat(pieces, dim=1), expected, what="cached decoder states")


def test_start_decoding_computes_the_cross_keys_once():
    model = random_model(0)
    src = random_source(0)
    calls = []
    for layer in model.decoder.layers:
        layer.cross_attention.w_k.register_forward_hook(lambda *args: calls.append(1))
    with torch.no_grad():
        greedy_decode(model, src, 6)
    assert len(calls) == len(model.decoder.layers)          # once per layer, not once per step
    calls.clear()
    with torch.no_grad():
        greedy_decode(model, src, 6, use_cache=False)
    assert len(calls) > len(model.decoder.layers)


def lockstep(model, src, steps, reorders):
    """Run a cached and an uncached StepDecoder side by side, selecting the same rows after each
    step; return the two lists of logits."""
    with torch.no_grad():
        src_mask = model.source_mask(src)
        memory = model.encode(src, src_mask)
        decoders = [StepDecoder(model, memory, src_mask, use_cache=flag) for flag in (True, False)]
        prefix = torch.full((src.shape[0], 1), BOS_ID)
        out = ([], [])
        for step in range(steps):
            for decoder, logits in zip(decoders, out):
                logits.append(decoder.logits(prefix))
            rows = reorders[step]
            for decoder in decoders:
                decoder.select(rows)
            prefix = torch.cat([prefix[rows], out[0][-1][rows].argmax(-1, keepdim=True)], dim=1)
    return out


def test_step_decoder_follows_selected_rows_with_and_without_cache():
    model = random_model(3)
    src = random_source(3, batch=4)
    # drop a row, repeat one, reverse, then keep a single row
    reorders = [torch.tensor([0, 1, 3]), torch.tensor([2, 2, 0, 1]), torch.tensor([3, 2, 1, 0]), torch.tensor([1])]
    cached, plain = lockstep(model, src, 4, reorders)
    for a, b in zip(cached, plain):
        assert a.shape == b.shape
        finite = torch.isfinite(b)
        assert torch.equal(finite, torch.isfinite(a))      # padding and BOS are -inf in both
        assert_close(a[finite], b[finite], what="cached next-token logits")


def test_a_cache_that_ignores_the_reordering_is_caught(monkeypatch):
    """The lockstep comparison can fail: a cache whose layers keep their rows in place disagrees."""
    model = random_model(3)
    src = random_source(3, batch=4)
    reorders = [torch.tensor([3, 2, 1, 0])] * 3
    monkeypatch.setattr(LayerCache, "select", lambda self, rows, cross=True: None)
    cached, plain = lockstep(model, src, 3, reorders)
    finite = torch.isfinite(plain[-1])
    assert not torch.allclose(cached[-1][finite], plain[-1][finite], atol=1e-3)


def ending_one_row_per_step():
    """A ``choose`` for ``decode_loop``: the most probable token, except that at each step the
    first row still going gets EOS, so rows end at steps 1, 2, 3, ... and leave the batch."""
    def choose(logits: torch.Tensor) -> torch.Tensor:
        tokens = logits.argmax(dim=-1)
        tokens[0] = EOS_ID
        return tokens
    return choose


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("norm_first", [True, False])
def test_greedy_decoding_is_the_same_with_the_cache(seed, norm_first):
    model = random_model(seed, norm_first, eos_bias=-3.0)    # no row ends by itself: choose ends them
    src = random_source(seed)
    with torch.no_grad():
        assert torch.equal(greedy_decode(model, src, 12), greedy_decode(model, src, 12, use_cache=False))
        ended = [decode_loop(model, src, 12, ending_one_row_per_step(), BOS_ID, EOS_ID, use_cache)
                 for use_cache in (True, False)]
    assert torch.equal(ended[0], ended[1])
    assert [row.index(EOS_ID) for row in ended[0].tolist()] == [0, 1, 2, 3, 4]   # each ended a step later


@pytest.mark.parametrize("seed", [0, 1])
def test_seeded_sampling_is_the_same_with_the_cache(seed):
    model = random_model(seed, eos_bias=1.0)
    src = random_source(seed)
    draws = []
    for use_cache in (True, False):
        generator = torch.Generator().manual_seed(123)
        with torch.no_grad():
            draws.append(sample(model, src, 10, temperature=1.2, top_p=0.95, generator=generator, use_cache=use_cache))
    assert torch.equal(draws[0], draws[1])


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("beam_size,alpha", [(2, 0.0), (4, 0.6), (5, 1.5)])
def test_beam_search_is_the_same_with_the_cache(seed, beam_size, alpha):
    model = random_model(seed, norm_first=seed % 2 == 0, eos_bias=-0.5)   # hypotheses finish at many steps
    src = random_source(seed)
    trace = []
    with torch.no_grad():
        hyps, scores = beam_search(model, src, beam_size, 10, alpha, return_scores=True, trace=trace)
        plain_hyps, plain_scores = beam_search(model, src, beam_size, 10, alpha, return_scores=True, use_cache=False)
    assert hyps == plain_hyps
    assert_close(torch.tensor(scores), torch.tensor(plain_scores), what="beam scores with and without the cache")
    early = [h for step in trace[:-1] for finished in step.finished for h in finished]
    assert early, "some hypotheses must finish before the last step, for the cache to be reordered around them"


def test_the_prefix_must_continue_the_cache():
    model = random_model(0)
    src = random_source(0, batch=2)
    with torch.no_grad():
        src_mask = model.source_mask(src)
        decoder = StepDecoder(model, model.encode(src, src_mask), src_mask)
        with pytest.raises(RuntimeError, match="after a call of logits"):
            decoder.select(torch.tensor([0]))
        decoder.logits(torch.full((2, 1), BOS_ID))
        with pytest.raises(ValueError, match="extend"):
            decoder.logits(torch.tensor([[BOS_ID, 5, 6], [BOS_ID, 5, 6]]))      # two tokens ahead
        with pytest.raises(ValueError, match="extend"):
            decoder.logits(torch.tensor([[BOS_ID, 5]]))                        # a row short
        with pytest.raises(IndexError, match="rows must lie in"):
            decoder.select(torch.tensor([0, 2]))
        with pytest.raises(TypeError, match="rows must be a 1-D tensor"):
            decoder.select(torch.tensor([True, False]))


@pytest.mark.parametrize("value", [1, "yes", None])
def test_use_cache_must_be_a_bool(value):
    model = random_model(0)
    src = random_source(0, batch=2)
    with pytest.raises(TypeError, match="use_cache"):
        greedy_decode(model, src, 4, use_cache=value)
    with pytest.raises(TypeError, match="use_cache"):
        beam_search(model, src, 2, 4, use_cache=value)
