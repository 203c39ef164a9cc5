"""encoder_decoder.alignment: token spans, and scoring cross-attention against a known alignment."""
import pytest
import torch

from transformer_book.data.numbers import digit_spans, number_pairs
from transformer_book.encoder_decoder.alignment import (alignment_accuracy, alignment_hits,
    token_spans)
from transformer_book.encoder_decoder.batching import train_tokenizer
from transformer_book.encoder_decoder.model import make_model

PAIRS = number_pairs(300, seed=0)
TOKENIZER = train_tokenizer(PAIRS, 120, individual_digits=True)


def digits(source, target):
    return digit_spans(int(target))


def tiny_model(heads=2, layers=2):
    torch.manual_seed(0)
    return make_model(TOKENIZER.get_vocab_size(), N=layers, d_model=16, d_ff=32, h=heads,
                      dropout=0.0, shared_vocab=True, tie_embeddings=True, pad_id=0).eval()


def uniform_cross_attention(model):
    """Zero queries: every cross-attention head weighs all source positions equally, so its
    argmax is the first source token (torch.argmax returns the first of equal maxima)."""
    with torch.no_grad():
        for layer in model.decoder.layers:
            layer.cross_attention.w_q.weight.zero_()
            if layer.cross_attention.w_q.bias is not None:
                layer.cross_attention.w_q.bias.zero_()
    return model


def test_token_spans_cover_the_word_without_the_marker():
    word = "dreiundzwanzig"
    spans = token_spans(TOKENIZER, word)
    assert len(spans) == len(TOKENIZER.encode(word, add_special_tokens=False).ids)
    assert all(span is not None for span in spans)
    assert "".join(word[a:b] for a, b in spans) == word
    assert spans[0][0] == 0 and spans[-1][1] == len(word)


def test_token_spans_of_digits_and_spaces():
    # the lone marker before the digits covers nothing; each digit covers itself
    assert token_spans(TOKENIZER, "23") == [None, (0, 1), (1, 2)]
    spans = token_spans(TOKENIZER, " drei drei")
    text = " drei drei"
    assert [text[a:b] for a, b in (s for s in spans if s is not None)] == ["drei", "drei"]
    assert token_spans(TOKENIZER, "") == []


def test_token_spans_bad_input():
    with pytest.raises(TypeError, match="text"):
        token_spans(TOKENIZER, 23)
    with pytest.raises(TypeError, match="tokenizer"):
        token_spans("not a tokenizer", "drei")


def test_shapes_and_range():
    model = tiny_model(heads=2, layers=3)
    for query in ("predicts", "input"):
        accuracy = alignment_accuracy(model, TOKENIZER, PAIRS[:40], digits, query=query, batch_size=16)
        assert accuracy.shape == (3, 2) and accuracy.dtype == torch.float32
        assert bool(((accuracy >= 0) & (accuracy <= 1)).all())
    mean = alignment_accuracy(model, TOKENIZER, PAIRS[:40], digits, average_heads=True)
    assert mean.shape == (3, 1)
    hits = alignment_hits(model, TOKENIZER, PAIRS[:40], digits)
    scored = sum(span is not None for _, target in PAIRS[:40] for span in digit_spans(int(target)))
    assert hits.shape == (scored, 3, 2) and hits.dtype == torch.bool


def test_batch_size_does_not_change_the_answer():
    model = tiny_model()
    one = alignment_hits(model, TOKENIZER, PAIRS[:30], digits, batch_size=1)
    assert torch.equal(one, alignment_hits(model, TOKENIZER, PAIRS[:30], digits, batch_size=64))


def test_a_hand_built_case():
    """With uniform cross-attention every head peaks on the first source token. In
    dreiundzwanzig that is the one holding "drei", which names the 3 but not the 2."""
    model = uniform_cross_attention(tiny_model())
    pairs = [("dreiundzwanzig", "23")]
    first = token_spans(TOKENIZER, "dreiundzwanzig")[0]
    assert first[0] == 0 and first[1] <= 7          # "drei..." but not "zwanzig"
    for query in ("predicts", "input"):
        hits = alignment_hits(model, TOKENIZER, pairs, digits, query=query)
        assert hits.shape == (2, 2, 2)
        assert not hits[0].any() and hits[1].all()   # the 2 misses, the 3 hits, in every head
        assert torch.equal(alignment_accuracy(model, TOKENIZER, pairs, digits, query=query),
                           torch.full((2, 2), 0.5))
    # a gold span on the first token always hits; one on the last character never does
    # (for words of more than one token)
    words = [pair for pair in PAIRS[:40] if len(token_spans(TOKENIZER, pair[0])) > 1]
    always = alignment_accuracy(model, TOKENIZER, words, lambda s, t: [[0, 1]] * len(t))  # lists do too
    never = alignment_accuracy(model, TOKENIZER, words, lambda s, t: [(len(s) - 1, len(s))] * len(t))
    assert len(words) > 30 and bool((always == 1).all()) and bool((never == 0).all())


def test_bad_input():
    model = tiny_model()
    with pytest.raises(TypeError, match="model"):
        alignment_accuracy(torch.nn.Linear(2, 2), TOKENIZER, PAIRS, digits)
    with pytest.raises(TypeError, match="tokenizer"):
        alignment_accuracy(model, "tok", PAIRS, digits)
    with pytest.raises(ValueError, match="empty"):
        alignment_accuracy(model, TOKENIZER, [], digits)
    with pytest.raises(TypeError, match="pairs"):
        alignment_accuracy(model, TOKENIZER, "drei", digits)
    with pytest.raises(TypeError, match=r"pairs\[0\]"):
        alignment_accuracy(model, TOKENIZER, [("drei", 3)], digits)
    with pytest.raises(TypeError, match="spans_of"):
        alignment_accuracy(model, TOKENIZER, PAIRS, None)
    with pytest.raises(ValueError, match="query"):
        alignment_accuracy(model, TOKENIZER, PAIRS, digits, query="output")
    with pytest.raises(TypeError, match="average_heads"):
        alignment_accuracy(model, TOKENIZER, PAIRS, digits, average_heads=1)
    with pytest.raises(ValueError, match="batch_size"):
        alignment_accuracy(model, TOKENIZER, PAIRS, digits, batch_size=0)
    with pytest.raises(ValueError, match="one span or None per character"):
        alignment_accuracy(model, TOKENIZER, PAIRS, lambda s, t: [None])
    with pytest.raises(ValueError, match="0 <= start < end"):
        alignment_accuracy(model, TOKENIZER, PAIRS, lambda s, t: [(0, len(s) + 1)] * len(t))
    with pytest.raises(ValueError, match="0 <= start < end"):
        alignment_accuracy(model, TOKENIZER, PAIRS, lambda s, t: [(2, 2)] * len(t))
    with pytest.raises(ValueError, match="nothing to score"):
        alignment_accuracy(model, TOKENIZER, PAIRS, lambda s, t: [None] * len(t))
