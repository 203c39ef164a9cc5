"""Bad and edge inputs for decoding, evaluation, the RNN, plotting, display, timing, utils,
embeddings, the feed-forward network and dropout.

Each bad input must raise a clear error (the exception type, and a message naming the argument)
before any expensive work; each edge input must give the documented, correct result.
"""
import math

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from tokenizers import Tokenizer, models  # noqa: E402
from torch import nn  # noqa: E402

from transformer_book.common import plotting  # noqa: E402
from transformer_book.encoder_decoder.batching import BOS_ID, EOS_ID, PAD_ID, train_tokenizer  # noqa: E402
from transformer_book.common.checks import assert_close  # noqa: E402
from transformer_book.data.numbers import number_pairs  # noqa: E402
from transformer_book.encoder_decoder.decoding import (attention_maps, beam_search, decode_loop,
    gnmt_length_penalty, greedy_decode, hypotheses, next_token_logits, sample, score_hypotheses)
from transformer_book.common.sampling import filter_logits, sampling_probs
from transformer_book.common.display import SourceListing, glue, show_source  # noqa: E402
from transformer_book.pieces.dropout import Dropout, dropout  # noqa: E402
from transformer_book.pieces.embeddings import (Embeddings, LearnedPositionalEncoding, PositionalEncoding,
    sinusoidal_table)
from transformer_book.encoder_decoder.evaluation import (corpus_scores, encode_sources,
    translate_sentences)  # noqa: E402
from transformer_book.pieces.feed_forward import PositionwiseFeedForward  # noqa: E402
from transformer_book.encoder_decoder.model import make_model  # noqa: E402
from transformer_book.pieces.recurrent import ElmanRNN, sequential_depth  # noqa: E402
from transformer_book.common.timing import median_time  # noqa: E402
from transformer_book.common.utils import (book_profile, count_parameters, pick_device, seed_everything)  # noqa: E402

VOCAB = 6
torch.manual_seed(0)
MODEL = make_model(VOCAB, N=1, d_model=16, d_ff=32, h=2, dropout=0.0, shared_vocab=True).eval()
SRC = torch.tensor([[4, 5, 1, EOS_ID], [5, 4, EOS_ID, PAD_ID]])          # (2, 4)
TGT_IN = torch.tensor([[BOS_ID, 4, 5], [BOS_ID, 5, PAD_ID]])             # (2, 3)
INT_DTYPES = [torch.int8, torch.int16, torch.int32, torch.uint8]


def greedy_choice(logits):
    return logits.argmax(dim=-1)


def memory_and_mask():
    mask = MODEL.source_mask(SRC)
    return MODEL.encode(SRC, mask), mask


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def raises(call, error, match):
    with pytest.raises(error, match=match):
        call()


# ----------------------------------------------------------------------------------------------
# decoding: greedy_decode, sample, beam_search, decode_loop


SRC_AND_IDS = [   # (kwargs for every decoder, error, match): inputs greedy, sampling and beams share
    ({"src": SRC.tolist()}, TypeError, "src must be a tensor"),
    ({"src": SRC.float()}, TypeError, "src must hold integer"),
    ({"src": SRC > 0}, TypeError, "src must hold integer"),
    ({"src": SRC[0]}, ValueError, r"src must be a \(batch, seq\)"),
    ({"src": SRC[:0]}, ValueError, "src is empty"),
    ({"src": SRC[:, :0]}, ValueError, "src is empty"),
    ({"src": torch.tensor([[4, VOCAB]])}, ValueError, r"src must be token ids in \[0, 6\)"),
    ({"src": torch.tensor([[4, -1]])}, ValueError, r"src must be token ids in \[0, 6\)"),
    ({"src": torch.tensor([[4, EOS_ID], [PAD_ID, PAD_ID]])}, ValueError, "of src are all padding"),
    ({"eos_id": VOCAB}, ValueError, r"eos_id must be a token id in \[0, 6\)"),
    ({"eos_id": -1}, ValueError, "eos_id must be an integer >= 0"),
    ({"eos_id": True}, ValueError, "eos_id must be an integer >= 0"),
    ({"eos_id": 3.0}, ValueError, "eos_id must be an integer >= 0"),
    ({"bos_id": 100}, ValueError, "bos_id must be a token id"),
    ({"bos_id": EOS_ID}, ValueError, "bos_id=3, eos_id=3 .* must differ"),
    ({"eos_id": PAD_ID}, ValueError, "eos_id=0 .* must differ"),
    ({"model": "a model"}, TypeError, "model must be an encoder-decoder"),
    ({"model": nn.Linear(2, 2)}, TypeError, "model must be an encoder-decoder"),
]
MAX_LENS = [0, -1, 2.0, True, None, "5"]


def call_decoder(name, **changes):
    kwargs = {"model": MODEL, "src": SRC, "max_len": 5, "bos_id": BOS_ID, "eos_id": EOS_ID, **changes}
    model, src, max_len = kwargs.pop("model"), kwargs.pop("src"), kwargs.pop("max_len")
    if name == "greedy_decode":
        return greedy_decode(model, src, max_len, **kwargs)
    if name == "sample":
        return sample(model, src, max_len, **kwargs)
    if name == "decode_loop":
        return decode_loop(model, src, max_len, kwargs.pop("choose", greedy_choice), **kwargs)
    return beam_search(model, src, kwargs.pop("beam_size", 2), max_len, **kwargs)


DECODERS = ["greedy_decode", "sample", "beam_search", "decode_loop"]


@pytest.mark.parametrize("name", DECODERS)
@pytest.mark.parametrize("changes, error, match", SRC_AND_IDS, ids=[m for _, _, m in SRC_AND_IDS])
def test_decoders_refuse_bad_sources_and_ids(name, changes, error, match):
    raises(lambda: call_decoder(name, **changes), error, match)


@pytest.mark.parametrize("name", DECODERS)
@pytest.mark.parametrize("max_len", MAX_LENS, ids=repr)
def test_decoders_refuse_bad_max_len(name, max_len):
    raises(lambda: call_decoder(name, max_len=max_len), ValueError, "max_len must be")


@pytest.mark.parametrize("changes, error, match", [
    ({"beam_size": 0}, ValueError, "beam_size"),
    ({"beam_size": -1}, ValueError, "beam_size"),
    ({"beam_size": 1.5}, ValueError, "beam_size"),
    ({"beam_size": True}, ValueError, "beam_size"),
    ({"beam_size": "2"}, ValueError, "beam_size"),
    ({"length_penalty": -0.5}, ValueError, "length_penalty"),
    ({"length_penalty": math.nan}, ValueError, "length_penalty"),
    ({"length_penalty": math.inf}, ValueError, "length_penalty"),
    ({"length_penalty": True}, ValueError, "length_penalty"),
    ({"length_penalty": "0.6"}, ValueError, "length_penalty"),
    ({"trace": ()}, TypeError, "trace must be None or a list"),
])
def test_beam_search_bad_arguments(changes, error, match):
    raises(lambda: call_decoder("beam_search", **changes), error, match)


@pytest.mark.parametrize("changes, match", [
    ({"temperature": 0}, "temperature"),
    ({"temperature": -1.0}, "temperature"),
    ({"temperature": math.inf}, "temperature"),
    ({"temperature": math.nan}, "temperature"),
    ({"temperature": True}, "temperature"),
    ({"temperature": "1"}, "temperature"),
    ({"top_k": 0}, "top_k"),
    ({"top_k": -2}, "top_k"),
    ({"top_k": 1.5}, "top_k"),
    ({"top_k": True}, "top_k"),
    ({"top_p": 0}, "top_p"),
    ({"top_p": 1.01}, "top_p"),
    ({"top_p": -0.1}, "top_p"),
    ({"top_p": math.nan}, "top_p"),
    ({"top_p": True}, "top_p"),
])
def test_sample_bad_arguments(changes, match):
    raises(lambda: call_decoder("sample", **changes), ValueError, match)


@pytest.mark.parametrize("choose, error, match", [
    (None, TypeError, "choose must be a callable"),
    (lambda logits: logits.max(dim=-1).values, ValueError, "choose must return integer ids"),
    (lambda logits: logits.argmax(dim=-1)[:1], ValueError, r"choose must return integer ids of shape \(2,\)"),
    (lambda logits: logits.argmax(dim=-1).tolist(), ValueError, "choose must return integer ids"),
    (lambda logits: logits.argmax(dim=-1) > 2, ValueError, "choose must return integer ids"),
])
def test_decode_loop_bad_choose(choose, error, match):
    raises(lambda: call_decoder("decode_loop", choose=choose), error, match)


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=str)
def test_every_integer_dtype_decodes_like_int64(dtype):
    src = SRC.to(dtype)
    assert torch.equal(greedy_decode(MODEL, src, 6), greedy_decode(MODEL, SRC, 6))
    assert beam_search(MODEL, src, 3, 6) == beam_search(MODEL, SRC, 3, 6)
    draw = lambda s: sample(MODEL, s, 6, generator=torch.Generator().manual_seed(0))  # noqa: E731
    assert torch.equal(draw(src), draw(SRC))
    hyps = beam_search(MODEL, SRC, 2, 6)
    assert torch.equal(score_hypotheses(MODEL, src, hyps, 6)[1], score_hypotheses(MODEL, SRC, hyps, 6)[1])
    maps = attention_maps(MODEL, src, TGT_IN.to(dtype))
    assert torch.equal(maps.cross[0], attention_maps(MODEL, SRC, TGT_IN).cross[0])
    assert hypotheses(greedy_decode(MODEL, SRC, 6).to(dtype)) == hypotheses(greedy_decode(MODEL, SRC, 6))


def test_decoding_edge_inputs_give_correct_results():
    # max_len=1: exactly one token per sentence, and beam search agrees with greedy decoding.
    one = greedy_decode(MODEL, SRC, 1)
    assert one.shape == (2, 1)
    assert beam_search(MODEL, SRC, 1, 1) == hypotheses(one)
    # A beam wider than the vocabulary keeps every prefix, like any beam that is wide enough.
    assert beam_search(MODEL, SRC, 20, 3, 0.6) == beam_search(MODEL, SRC, 12, 3, 0.6)
    # A source of EOS alone is a sentence.
    assert greedy_decode(MODEL, torch.tensor([[EOS_ID]]), 4).shape[0] == 1
    # top_k larger than the vocabulary keeps everything.
    logits = torch.randn(2, VOCAB, generator=torch.Generator().manual_seed(0))
    assert torch.equal(filter_logits(logits, top_k=100), logits)
    assert torch.isfinite(filter_logits(logits[0], top_k=2)).sum() == 2        # a 1-D row works too


# ----------------------------------------------------------------------------------------------
# decoding: the smaller functions


@pytest.mark.parametrize("call, error, match", [
    (lambda: filter_logits([0.0, 1.0]), TypeError, "logits must be a floating-point tensor"),
    (lambda: filter_logits(torch.tensor([1, 2, 3])), TypeError, "logits must be a floating-point tensor"),
    (lambda: filter_logits(torch.tensor(1.0)), ValueError, "logits must have a non-empty last"),
    (lambda: filter_logits(torch.zeros(3, 0)), ValueError, "logits must have a non-empty last"),
    (lambda: filter_logits(torch.zeros(3), top_k=0), ValueError, "top_k"),
    (lambda: filter_logits(torch.zeros(3), top_p=1.5), ValueError, "top_p"),
    (lambda: sampling_probs(torch.zeros(3), temperature=0.0), ValueError, "temperature"),
    (lambda: sampling_probs(torch.zeros(3), temperature=math.inf), ValueError, "temperature"),
    (lambda: sampling_probs(torch.tensor([1, 2]), temperature=1.0), TypeError, "logits"),
    (lambda: sampling_probs(torch.zeros(2, 0)), ValueError, "logits"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_filter_logits_and_sampling_probs_bad_inputs(call, error, match):
    raises(call, error, match)


@pytest.mark.parametrize("call, error, match", [
    (lambda: hypotheses([[1, EOS_ID]]), TypeError, "ids must be an integer tensor"),
    (lambda: hypotheses(torch.tensor([[1.0, 3.0]])), TypeError, "ids must be an integer tensor"),
    (lambda: hypotheses(torch.tensor([[True]])), TypeError, "ids must be an integer tensor"),
    (lambda: hypotheses(torch.tensor([1, EOS_ID])), ValueError, r"\(batch, length\)"),
    (lambda: hypotheses(torch.tensor([[1, EOS_ID]]), eos_id=3.0), ValueError, "eos_id must be an integer"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_hypotheses_bad_inputs(call, error, match):
    raises(call, error, match)


@pytest.mark.parametrize("hyps, kwargs, error, match", [
    ([[4]], {}, ValueError, "got 1 hypotheses for 2 source sentences"),
    ([], {}, ValueError, "got 0 hypotheses"),
    ("ab", {}, TypeError, "hyps must be a list"),
    (5, {}, TypeError, "hyps must be a list"),
    (torch.tensor([[4], [5]]), {}, TypeError, "hyps must be a list"),
    ([4, 5], {}, TypeError, r"hyps\[0\] must be a list of integer"),
    ([[4.7], [5]], {}, TypeError, r"hyps\[0\] must be a list of integer"),
    ([[4], [True]], {}, TypeError, r"hyps\[1\] must be a list of integer"),
    ([[4], ["5"]], {}, TypeError, r"hyps\[1\] must be a list of integer"),
    ([[4], [torch.tensor([5.0])]], {}, TypeError, r"hyps\[1\]"),
    ([[4], [VOCAB]], {}, ValueError, r"hyps\[1\] ids must lie in \[0, 6\)"),
    ([[-1], [5]], {}, ValueError, r"hyps\[0\] ids must lie"),
    ([[4, EOS_ID], [5]], {}, ValueError, "must not contain BOS, EOS or padding"),
    ([[4, 5, 4], [5]], {"max_len": 2}, ValueError, "longer than max_len=2"),
    ([[4], [5]], {"max_len": 0}, ValueError, "max_len must be"),
    ([[4], [5]], {"max_len": 1.5}, ValueError, "max_len must be"),
    ([[4], [5]], {"length_penalty": -1.0}, ValueError, "length_penalty"),
    ([[4], [5]], {"eos_id": VOCAB + 3}, ValueError, "eos_id must be a token id"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_score_hypotheses_bad_inputs(hyps, kwargs, error, match):
    raises(lambda: score_hypotheses(MODEL, SRC, hyps, **kwargs), error, match)


def test_score_hypotheses_accepts_tensors_numpy_ints_and_empty_hypotheses():
    as_lists = score_hypotheses(MODEL, SRC, [[4, 5], []])
    as_tensors = score_hypotheses(MODEL, SRC, [torch.tensor([4, 5], dtype=torch.int16), torch.tensor([], dtype=torch.long)])
    as_numpy = score_hypotheses(MODEL, SRC, [list(np.array([4, 5])), ()])
    for other in (as_tensors, as_numpy):
        assert torch.equal(other[0], as_lists[0]) and torch.equal(other[1], as_lists[1])
    # The empty hypothesis is EOS alone: its log-probability is that of EOS after BOS.
    memory, mask = memory_and_mask()
    eos_lp = next_token_logits(MODEL, memory[1:], mask[1:], torch.tensor([[BOS_ID]])).log_softmax(-1)[0, EOS_ID]
    assert_close(as_lists[0][1], eos_lp, what="log P(EOS | BOS)")


@pytest.mark.parametrize("call, error, match", [
    (lambda m, k: next_token_logits(MODEL, m, k, torch.tensor([BOS_ID, BOS_ID])), ValueError, "prefix must be"),
    (lambda m, k: next_token_logits(MODEL, m, k, torch.zeros(2, 0, dtype=torch.long)), ValueError, "prefix must be"),
    (lambda m, k: next_token_logits(MODEL, m, k, [[BOS_ID], [BOS_ID]]), ValueError, "prefix must be"),
    (lambda m, k: next_token_logits(MODEL, m[:1], k[:1], torch.full((2, 1), BOS_ID)), ValueError, "memory must be"),
    (lambda m, k: next_token_logits(MODEL, m, k, torch.full((2, 1), BOS_ID), bos_id=VOCAB), ValueError, "bos_id"),
    (lambda m, k: next_token_logits(MODEL, m, k, torch.full((2, 1), BOS_ID), bos_id=-1), ValueError, "bos_id"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_next_token_logits_bad_inputs(call, error, match):
    memory, mask = memory_and_mask()
    raises(lambda: call(memory, mask), error, match)


@pytest.mark.parametrize("length, alpha, match", [
    (3, -0.1, "alpha"),
    (3, math.nan, "alpha"),
    (3, math.inf, "alpha"),
    (3, True, "alpha"),
    (-6, 0.6, "length must be an integer >= 0"),
    (-1, 0.6, "length must be an integer >= 0"),
    (2.5, 0.6, "length must be an integer >= 0"),
    (True, 0.6, "length must be an integer >= 0"),
    (torch.tensor([2.0, -7.0]), 0.6, "length must be >= 0"),
])
def test_gnmt_length_penalty_bad_inputs(length, alpha, match):
    raises(lambda: gnmt_length_penalty(length, alpha), ValueError, match)


def test_gnmt_length_penalty_edges():
    assert gnmt_length_penalty(0, 0.6) == pytest.approx((5 / 6) ** 0.6)
    assert torch.equal(gnmt_length_penalty(torch.tensor([1.0, 7.0]), 1.0), torch.tensor([1.0, 2.0]))
    assert gnmt_length_penalty(torch.tensor([]), 0.6).numel() == 0


@pytest.mark.parametrize("src, tgt_in, error, match", [
    (SRC, TGT_IN.tolist(), TypeError, "tgt_in must be a tensor"),
    (SRC, TGT_IN.float(), TypeError, "tgt_in must hold integer"),
    (SRC, TGT_IN[:1], ValueError, "tgt_in must be"),
    (SRC, TGT_IN[:, :0], ValueError, "tgt_in must be a non-empty"),
    (SRC, TGT_IN[0], ValueError, "tgt_in must be"),
    (SRC, TGT_IN + VOCAB, ValueError, r"tgt_in must be token ids in \[0, 6\)"),
    (SRC.float(), TGT_IN, TypeError, "src must hold integer"),
    (SRC + 10, TGT_IN, ValueError, "src must be token ids in"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_attention_maps_bad_inputs(src, tgt_in, error, match):
    raises(lambda: attention_maps(MODEL, src, tgt_in), error, match)


# ----------------------------------------------------------------------------------------------
# evaluation


@pytest.mark.parametrize("hyps, refs, error, match", [
    ("a b", ["a b"], TypeError, "hypotheses must be a list of strings, not one string"),
    (["a b"], "a b", TypeError, "references must be a list of strings, not one string"),
    (None, ["a"], TypeError, "hypotheses must be a list of strings"),
    (["a"], 5, TypeError, "references must be a list of strings"),
    ([1], ["a"], TypeError, r"hypotheses\[0\] is int, expected str"),
    (["a", "b"], ["a", None], TypeError, r"references\[1\] is NoneType"),
    ([["a"]], ["a"], TypeError, r"hypotheses\[0\] is list"),
    (["a"], ["a", "b"], ValueError, "got 1 hypotheses but 2 references"),
    (["a", "b"], [], ValueError, "got 2 hypotheses but 0 references"),
    ([], [], ValueError, "no sentences to score"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_corpus_scores_bad_inputs(hyps, refs, error, match):
    raises(lambda: corpus_scores(hyps, refs), error, match)


def test_corpus_scores_edges():
    refs = ["das ist gut", "er kommt"]
    as_lists = corpus_scores(["das ist gut", "er geht"], refs)
    assert corpus_scores(("das ist gut", "er geht"), tuple(refs)) == as_lists          # any collection
    assert corpus_scores((h for h in ["das ist gut", "er geht"]), iter(refs)) == as_lists
    empty = corpus_scores(["", ""], refs)                                              # empty outputs
    assert empty["bleu"] == 0.0 and empty["chrf"] == 0.0


PAIRS = number_pairs(120, seed=0)
TOKENIZER = train_tokenizer(PAIRS, 50)
torch.manual_seed(1)
TRANSLATOR = make_model(TOKENIZER.get_vocab_size(), N=1, d_model=16, d_ff=32, h=2, dropout=0.0, shared_vocab=True).eval()
SENTENCES = [src for src, _ in PAIRS[:3]]
NO_SPECIALS = Tokenizer(models.WordLevel({"a": 0, "[UNK]": 1}, unk_token="[UNK]"))


@pytest.mark.parametrize("tokenizer, sentences, kwargs, error, match", [
    (None, SENTENCES, {}, TypeError, "tokenizer must be a tokenizers.Tokenizer"),
    ("tok", SENTENCES, {}, TypeError, "tokenizer must be a tokenizers.Tokenizer"),
    (NO_SPECIALS, SENTENCES, {}, ValueError, r"the tokenizer maps '\[PAD\]'"),
    (TOKENIZER, "ein satz", {}, TypeError, "sentences must be a list of strings"),
    (TOKENIZER, None, {}, TypeError, "sentences must be a list of strings"),
    (TOKENIZER, ["eins", 2], {}, TypeError, r"sentences\[1\] is int"),
    (TOKENIZER, [], {}, ValueError, "no sentences to encode"),
    (TOKENIZER, SENTENCES, {"pad_id": -1}, ValueError, "pad_id must be"),
    (TOKENIZER, SENTENCES, {"pad_id": EOS_ID}, ValueError, "pad_id must be a token id .* other than EOS"),
    (TOKENIZER, SENTENCES, {"pad_id": 10**6}, ValueError, "pad_id must be"),
    (TOKENIZER, SENTENCES, {"pad_id": True}, ValueError, "pad_id must be"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_encode_sources_bad_inputs(tokenizer, sentences, kwargs, error, match):
    raises(lambda: encode_sources(tokenizer, sentences, **kwargs), error, match)


def test_encode_sources_sentence_without_tokens_is_eos_alone():
    src = encode_sources(TOKENIZER, ["", SENTENCES[0]])
    assert src[0].tolist()[:1] == [EOS_ID] and (src[0, 1:] == PAD_ID).all()
    assert greedy_decode(TRANSLATOR, src, 3).shape[0] == 2                 # and it decodes


@pytest.mark.parametrize("changes, error, match", [
    ({"model": None}, TypeError, "model must be an encoder-decoder"),
    ({"tokenizer": "tok"}, TypeError, "tokenizer must be a tokenizers.Tokenizer"),
    ({"sentences": "ein satz"}, TypeError, "sentences must be a list of strings"),
    ({"sentences": [None]}, TypeError, r"sentences\[0\] is NoneType"),
    ({"beam_size": 0}, ValueError, "beam_size must be"),
    ({"beam_size": True}, ValueError, "beam_size must be"),
    ({"beam_size": 1.0}, ValueError, "beam_size must be"),
    ({"batch_size": 0}, ValueError, "batch_size must be"),
    ({"batch_size": True}, ValueError, "batch_size must be"),
    ({"batch_size": 2.0}, ValueError, "batch_size must be"),
    ({"max_len": 0}, ValueError, "max_len must be"),
    ({"max_len": 2.5}, ValueError, "max_len must be"),
    ({"length_penalty": -1.0}, ValueError, "length_penalty"),
    ({"device": "gpu0"}, ValueError, "device must be a device name"),
    ({"sentences": [], "beam_size": 0}, ValueError, "beam_size"),       # checked even with nothing to do
])
def test_translate_sentences_bad_inputs(changes, error, match):
    kwargs = {"model": TRANSLATOR, "tokenizer": TOKENIZER, "sentences": SENTENCES, "max_len": 4, **changes}
    raises(lambda: translate_sentences(**kwargs), error, match)


def test_translate_sentences_edges():
    assert translate_sentences(TRANSLATOR, TOKENIZER, []) == []
    assert translate_sentences(TRANSLATOR, TOKENIZER, (), return_scores=True) == ([], [])
    out = translate_sentences(TRANSLATOR, TOKENIZER, ["", SENTENCES[0]], max_len=4)
    assert len(out) == 2 and all(isinstance(text, str) for text in out)
    assert out[1] == translate_sentences(TRANSLATOR, TOKENIZER, [SENTENCES[0]], max_len=4)[0]


# ----------------------------------------------------------------------------------------------
# recurrent


@pytest.mark.parametrize("call, error, match", [
    (lambda: ElmanRNN(0, 4), ValueError, "input_size must be"),
    (lambda: ElmanRNN(True, 4), ValueError, "input_size must be"),
    (lambda: ElmanRNN(2.5, 4), ValueError, "input_size must be"),
    (lambda: ElmanRNN(3, -1), ValueError, "hidden_size must be"),
    (lambda: ElmanRNN(5, 7)(torch.randn(2, 3, 5).tolist()), TypeError, "x must be a tensor"),
    (lambda: ElmanRNN(5, 7)(torch.ones(2, 3, 5, dtype=torch.long)), TypeError, "x must be torch.float32"),
    (lambda: ElmanRNN(5, 7)(torch.randn(2, 3, 5, dtype=torch.float64)), TypeError, "x must be torch.float32"),
    (lambda: ElmanRNN(5, 7)(torch.randn(2, 3, 5), torch.zeros(2, 7).tolist()), TypeError, "h0 must be a tensor"),
    (lambda: ElmanRNN(5, 7)(torch.randn(2, 3, 5), torch.zeros(2, 7, dtype=torch.float64)), TypeError, "h0 must be"),
    (lambda: ElmanRNN(5, 7)(torch.randn(2, 3, 5), torch.zeros(3, 7)), ValueError, "h0 must have shape"),
    (lambda: ElmanRNN(5, 7)(torch.randn(3, 5)), ValueError, r"\(B, T, D_in\)"),
    (lambda: ElmanRNN(5, 7)(torch.randn(2, 3, 4)), ValueError, "D_in=5"),
    (lambda: ElmanRNN(5, 7)(torch.randn(2, 0, 5)), ValueError, "T=0"),
    (lambda: ElmanRNN(5, 7).step(torch.randn(2, 4), torch.zeros(2, 7)), ValueError, r"x_t \(B, 5\)"),
    (lambda: ElmanRNN(5, 7).step(torch.randn(2, 5), torch.zeros(3, 7)), ValueError, r"h \(B, 7\)"),
    (lambda: ElmanRNN(5, 7).step(torch.randn(5), torch.zeros(7)), ValueError, r"x_t \(B, 5\)"),
    (lambda: ElmanRNN.from_torch(nn.GRU(3, 4)), TypeError, "nn.RNN"),
    (lambda: ElmanRNN.from_torch(nn.RNN(3, 4, num_layers=2)), ValueError, "one layer"),
    (lambda: ElmanRNN.from_torch(nn.RNN(3, 4, bidirectional=True)), ValueError, "bidirectional=True"),
    (lambda: ElmanRNN.from_torch(nn.RNN(3, 4, nonlinearity="relu")), ValueError, "nonlinearity='relu'"),
    (lambda: sequential_depth([1.0]), TypeError, "sequential_depth expects a tensor"),
    (lambda: sequential_depth(torch.ones(3) * 2), ValueError, "no autograd history"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_recurrent_bad_inputs(call, error, match):
    raises(call, error, match)


def test_rnn_float64_model_takes_float64_inputs():
    model = ElmanRNN(3, 4).double()
    outputs, last = model(torch.randn(2, 5, 3, dtype=torch.float64))
    assert outputs.dtype == torch.float64 and torch.equal(outputs[:, -1], last)


# ----------------------------------------------------------------------------------------------
# plotting, display, timing, utils


@pytest.mark.parametrize("call, error, match", [
    (lambda: plotting.new_axes(0), ValueError, "ncols must be"),
    (lambda: plotting.new_axes(1.5), ValueError, "ncols must be"),
    (lambda: plotting.new_axes(True), ValueError, "ncols must be"),
    (lambda: plotting.new_axes(1, 0), ValueError, "nrows must be"),
    (lambda: plotting.new_axes(height=-1), ValueError, "height must be"),
    (lambda: plotting.new_axes(height=math.nan), ValueError, "height must be"),
    (lambda: plotting.new_axes(width=0), ValueError, "width must be"),
    (lambda: plotting.new_axes(width="7"), ValueError, "width must be"),
    (lambda: plotting.heatmap(torch.zeros(2, 2, 2)), ValueError, "2-D"),
    (lambda: plotting.heatmap(torch.zeros(0, 3)), ValueError, "non-empty matrix"),
    (lambda: plotting.heatmap([["a", "b"]]), TypeError, "real numbers"),
    (lambda: plotting.heatmap(torch.eye(2) + 0j), TypeError, "real numbers"),
    (lambda: plotting.heatmap(torch.eye(3), row_labels="ab"), ValueError, "row_labels has 2 labels"),
    (lambda: plotting.heatmap(torch.eye(3), col_labels="abcd"), ValueError, "col_labels has 4 labels"),
    (lambda: plotting.plot_curves([([1], [2])], xlabel="x", ylabel="y"), TypeError, "curves must be a mapping"),
    (lambda: plotting.plot_curves({}, xlabel="x", ylabel="y"), ValueError, "at least one curve"),
    (lambda: plotting.plot_curves({"a": [1, 2, 3]}, xlabel="x", ylabel="y"), ValueError, "curve 'a' must be a pair"),
    (lambda: plotting.plot_curves({"a": (1, 2)}, xlabel="x", ylabel="y"), ValueError, "curve 'a' must be a pair"),
    (lambda: plotting.plot_curves({"a": ("ab", "cd")}, xlabel="x", ylabel="y"), ValueError, "curve 'a' must be"),
    (lambda: plotting.plot_curves({"a": ([1, 2], [3])}, xlabel="x", ylabel="y"), ValueError, "'a' has 2 x values"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_plotting_bad_inputs(call, error, match):
    raises(call, error, match)
    assert not plt.get_fignums(), "the check must come before a figure is made"


def test_plotting_edges():
    ax = plotting.heatmap(torch.tensor([[True, False]]), row_labels=["r"], col_labels=range(2))
    assert [t.get_text() for t in ax.get_xticklabels()] == ["0", "1"]
    ax = plotting.plot_curves({"empty": ([], []), "one": (np.arange(2), torch.tensor([1.0, 2.0]))}, xlabel="x", ylabel="y")
    assert len(ax.get_lines()) == 2


@pytest.mark.parametrize("call, error, match", [
    (lambda: SourceListing(1, "x"), TypeError, "source and name must be strings"),
    (lambda: SourceListing("x = 1", None), TypeError, "source and name must be strings"),
    (lambda: show_source(len), TypeError, "show_source needs"),
    (lambda: show_source(3), TypeError, "show_source needs"),
    (lambda: glue(3, 1.0), TypeError, "glue name must be a string"),
    (lambda: glue("", 1.0), ValueError, "glue name must be a non-empty string"),
    (lambda: glue("  ", 1.0), ValueError, "glue name must be a non-empty string"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_display_bad_inputs(call, error, match):
    raises(call, error, match)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"repeats": 0}, ValueError, "repeats must be"),
    ({"repeats": -1}, ValueError, "repeats must be"),
    ({"repeats": True}, ValueError, "repeats must be"),
    ({"repeats": 2.5}, ValueError, "repeats must be"),
    ({"warmup": -1}, ValueError, "warmup must be an integer >= 0"),
    ({"warmup": 1.5}, ValueError, "warmup must be an integer >= 0"),
    ({"warmup": True}, ValueError, "warmup must be an integer >= 0"),
    ({"fn": None}, TypeError, "fn must be a callable"),
], ids=repr)
def test_median_time_bad_inputs(kwargs, error, match):
    calls = []
    kwargs = {"fn": lambda: calls.append(1), **kwargs}
    raises(lambda: median_time(kwargs.pop("fn"), **kwargs), error, match)
    assert calls == [], "nothing may run before the arguments are checked"


def test_median_time_without_warmup():
    calls = []
    assert median_time(lambda: calls.append(1), warmup=0, repeats=1) >= 0 and len(calls) == 1


@pytest.mark.parametrize("seed", ["a", 1.5, True, None, -1, 2**32], ids=repr)
def test_seed_everything_bad_seeds(seed):
    state = torch.get_rng_state()
    raises(lambda: seed_everything(seed), ValueError, "(?i)seed must be")
    assert torch.equal(torch.get_rng_state(), state), "nothing may be seeded before the check"


def test_seed_everything_largest_seed():
    g = seed_everything(2**32 - 1)
    assert torch.equal(torch.randn(3, generator=g), torch.randn(3, generator=torch.Generator().manual_seed(2**32 - 1)))


@pytest.mark.parametrize("env, default, match", [
    (None, "fast", "default must be one of"),
    (None, 3, "default must be one of"),
    ("full", None, "default must be one of"),
    ("fast", "quick", "BOOK_PROFILE must be one of"),
], ids=repr)
def test_book_profile_bad_inputs(monkeypatch, env, default, match):
    monkeypatch.delenv("BOOK_PROFILE", raising=False)
    if env is not None:
        monkeypatch.setenv("BOOK_PROFILE", env)
    raises(lambda: book_profile(default), ValueError, match)


@pytest.mark.parametrize("env, preferred, error, match", [
    (None, "gpu", ValueError, "preferred='gpu' is not a device name"),
    (None, "", ValueError, "preferred='' is not a device name"),
    (None, 3, TypeError, "preferred must be a device name"),
    ("gpu", None, ValueError, "BOOK_DEVICE='gpu' is not a device name"),
    ("cuda:99", None, ValueError, "BOOK_DEVICE asks for 'cuda:99'"),
    (None, "cuda:99", ValueError, "preferred asks for 'cuda:99'"),
    ("cpu", torch.device("cuda", 99), ValueError, "preferred asks for 'cuda:99'"),
], ids=repr)
def test_pick_device_bad_names(monkeypatch, env, preferred, error, match):
    monkeypatch.delenv("BOOK_DEVICE", raising=False)
    if env is not None:
        monkeypatch.setenv("BOOK_DEVICE", env)
    raises(lambda: pick_device(preferred), error, match)


def test_pick_device_edges(monkeypatch):
    monkeypatch.setenv("BOOK_DEVICE", "")                       # empty: as if unset
    assert pick_device().type in {"cpu", "cuda", "mps"}
    monkeypatch.setenv("BOOK_DEVICE", " cpu ")
    assert pick_device() == torch.device("cpu")
    assert pick_device(torch.device("cpu")) == torch.device("cpu")   # preferred wins over BOOK_DEVICE


@pytest.mark.parametrize("module", [None, torch.ones(3), [nn.Linear(2, 2)]], ids=["None", "tensor", "list"])
def test_count_parameters_needs_a_module(module):
    raises(lambda: count_parameters(module), TypeError, "count_parameters expects an nn.Module")


def test_count_parameters_edges():
    assert count_parameters(nn.ReLU()) == 0
    tied = nn.Sequential(nn.Linear(3, 3), nn.Linear(3, 3))
    tied[1].weight = tied[0].weight
    assert count_parameters(tied) == 9 + 3 + 3                  # a shared tensor counts once


# ----------------------------------------------------------------------------------------------
# embeddings, feed-forward, dropout


@pytest.mark.parametrize("call, error, match", [
    (lambda: Embeddings(0, 4), ValueError, "vocab_size must be"),
    (lambda: Embeddings(-3, 4), ValueError, "vocab_size must be"),
    (lambda: Embeddings(2.5, 4), ValueError, "vocab_size must be"),
    (lambda: Embeddings(True, 4), ValueError, "vocab_size must be"),
    (lambda: Embeddings(5, 0), ValueError, "d_model must be"),
    (lambda: Embeddings(5, -4), ValueError, "d_model must be"),
    (lambda: Embeddings(5, 4, padding_idx=5), ValueError, r"padding_idx must be None or an id in \[0, 5\)"),
    (lambda: Embeddings(5, 4, padding_idx=-1), ValueError, "padding_idx"),
    (lambda: Embeddings(5, 4, padding_idx=1.0), ValueError, "padding_idx"),
    (lambda: Embeddings(5, 4, padding_idx=True), ValueError, "padding_idx"),
    (lambda: Embeddings(5, 4)([[0, 1]]), TypeError, "token ids must be a tensor"),
    (lambda: Embeddings(5, 4)(torch.tensor([[0.0, 1.0]])), TypeError, "token ids must be an integer tensor"),
    (lambda: Embeddings(5, 4)(torch.tensor([[True]])), TypeError, "token ids must be an integer tensor"),
    (lambda: Embeddings(5, 4)(torch.tensor([[0, 5]])), IndexError, r"token ids must lie in \[0, 5\)"),
    (lambda: Embeddings(5, 4)(torch.tensor([[-1, 2]])), IndexError, r"token ids must lie in \[0, 5\)"),
    (lambda: Embeddings(5, 4)(torch.tensor([[200]], dtype=torch.uint8)), IndexError, "from 200 to 200"),
    (lambda: sinusoidal_table(0, 4), ValueError, "max_len"),
    (lambda: sinusoidal_table(5.5, 4), ValueError, "max_len must be"),
    (lambda: sinusoidal_table(True, 4), ValueError, "max_len must be"),
    (lambda: sinusoidal_table(5, -2), ValueError, "d_model"),
    (lambda: PositionalEncoding(0), ValueError, "d_model"),
    (lambda: PositionalEncoding(8, max_len=0), ValueError, "max_len"),
    (lambda: PositionalEncoding(8, dropout=1.0), ValueError, "dropout probability"),
    (lambda: LearnedPositionalEncoding(0), ValueError, "d_model must be"),
    (lambda: LearnedPositionalEncoding(8, max_len=-1), ValueError, "max_len must be"),
    (lambda: LearnedPositionalEncoding(8, max_len=2.0), ValueError, "max_len must be"),
    (lambda: LearnedPositionalEncoding(8, dropout="0.1"), ValueError, "dropout probability"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_embeddings_bad_inputs(call, error, match):
    raises(call, error, match)


@pytest.mark.parametrize("cls", [PositionalEncoding, LearnedPositionalEncoding])
@pytest.mark.parametrize("x, offset, error, match", [
    (torch.zeros(1, 3, 8, dtype=torch.long), 0, TypeError, "floating-point tensor x"),
    (torch.zeros(1, 3, 8).tolist(), 0, TypeError, "floating-point tensor x"),
    (torch.zeros(1, 3, 8), 1.5, ValueError, "offset must be an integer >= 0"),
    (torch.zeros(1, 3, 8), True, ValueError, "offset must be an integer >= 0"),
    (torch.zeros(1, 3, 8), -1, ValueError, "offset must be an integer >= 0"),
    (torch.zeros(1, 7, 8), 0, ValueError, "max_len=6"),
    (torch.zeros(1, 3, 8), 4, ValueError, "max_len=6"),
    (torch.zeros(3, 8), 0, ValueError, r"\(batch, seq, 8\)"),
    (torch.zeros(1, 3, 6), 0, ValueError, r"\(batch, seq, 8\)"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_positional_encodings_bad_inputs(cls, x, offset, error, match):
    raises(lambda: cls(8, max_len=6)(x, offset), error, match)


@pytest.mark.parametrize("dtype", INT_DTYPES, ids=str)
def test_embeddings_take_every_integer_dtype(dtype):
    torch.manual_seed(0)
    emb = Embeddings(11, 4)
    tokens = torch.tensor([[1, 2, 10], [0, 5, 7]])
    assert torch.equal(emb(tokens.to(dtype)), emb(tokens))


def test_embedding_edges():
    assert Embeddings(5, 4)(torch.zeros(1, 0, dtype=torch.long)).shape == (1, 0, 4)   # no tokens
    assert Embeddings(1, 1, padding_idx=0)(torch.zeros(1, 2, dtype=torch.long)).abs().sum() == 0
    pe = PositionalEncoding(8, max_len=6)
    assert torch.equal(pe(torch.zeros(1, 0, 8)), torch.zeros(1, 0, 8))              # no positions
    assert torch.equal(pe(torch.zeros(1, 1, 8), offset=5)[0], sinusoidal_table(6, 8)[5:])   # the last one


@pytest.mark.parametrize("call, error, match", [
    (lambda: PositionwiseFeedForward(0, 8), ValueError, "d_model must be"),
    (lambda: PositionwiseFeedForward(True, 8), ValueError, "d_model must be"),
    (lambda: PositionwiseFeedForward(4, 0), ValueError, "d_ff must be"),
    (lambda: PositionwiseFeedForward(4, -3), ValueError, "d_ff must be"),
    (lambda: PositionwiseFeedForward(4, 2.5), ValueError, "d_ff must be"),
    (lambda: PositionwiseFeedForward(4, True), ValueError, "d_ff must be"),
    (lambda: PositionwiseFeedForward(4, 8, activation="swish"), ValueError, "activation must be one of"),
    (lambda: PositionwiseFeedForward(4, 8, activation=None), ValueError, "activation must be one of"),
    (lambda: PositionwiseFeedForward(4, 8, activation=["relu"]), ValueError, "activation must be one of"),
    (lambda: PositionwiseFeedForward(4, 8, dropout=1.5), ValueError, "dropout probability"),
    (lambda: PositionwiseFeedForward(4, 8)(torch.zeros(2, 3, 5)), ValueError, "x must have d_model=4 features"),
    (lambda: PositionwiseFeedForward(4, 8)(torch.tensor(1.0)), ValueError, "x must have d_model=4 features"),
    (lambda: PositionwiseFeedForward(4, 8)(torch.zeros(2, 4, dtype=torch.long)), TypeError, "floating-point tensor x"),
    (lambda: PositionwiseFeedForward(4, 8)([[0.0] * 4]), TypeError, "floating-point tensor x"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_feed_forward_bad_inputs(call, error, match):
    raises(call, error, match)


def test_feed_forward_edges():
    ffn = PositionwiseFeedForward(4, 1)                                 # one hidden unit is allowed
    assert ffn(torch.zeros(4)).shape == (4,)                            # a single vector
    assert ffn(torch.zeros(2, 0, 4)).shape == (2, 0, 4)                 # an empty sequence


@pytest.mark.parametrize("call, error, match", [
    (lambda: dropout(torch.ones(3), -0.1), ValueError, r"dropout probability.* must be in \[0, 1\)"),
    (lambda: dropout(torch.ones(3), 1.0), ValueError, r"dropout probability.* must be in \[0, 1\)"),
    (lambda: dropout(torch.ones(3), 2), ValueError, "dropout probability"),
    (lambda: dropout(torch.ones(3), math.nan), ValueError, "dropout probability"),
    (lambda: dropout(torch.ones(3), "0.5"), ValueError, "dropout probability p must be a finite number"),
    (lambda: dropout(torch.ones(3), None), ValueError, "dropout probability p must be a finite number"),
    (lambda: dropout(torch.ones(3), True), ValueError, "dropout probability p must be a finite number"),
    (lambda: dropout([1.0, 2.0], 0.5), TypeError, "dropout expects a tensor x"),
    (lambda: dropout(torch.ones(3, dtype=torch.long), 0.5), TypeError, "floating-point x"),
    (lambda: dropout(torch.ones(3, dtype=torch.bool), 0.2), TypeError, "floating-point x"),
    (lambda: Dropout(1.0), ValueError, "dropout probability"),
    (lambda: Dropout(-0.5), ValueError, "dropout probability"),
    (lambda: Dropout(True), ValueError, "dropout probability p must be a finite number"),
    (lambda: Dropout("0.1"), ValueError, "dropout probability p must be a finite number"),
], ids=lambda v: v if isinstance(v, str) else "")
def test_dropout_bad_inputs(call, error, match):
    raises(call, error, match)


def test_dropout_edges():
    ints = torch.arange(6)
    assert dropout(ints, 0.5, training=False) is ints                  # nothing to scale: allowed
    assert dropout(ints, 0.0) is ints
    assert dropout(torch.ones(0), 0.5).shape == (0,)
    assert Dropout(0).p == 0
