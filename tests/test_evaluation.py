"""Corpus BLEU/chrF through sacreBLEU, and translate_sentences' batching and bookkeeping."""
import math

import pytest
import torch

from transformer_book.encoder_decoder.batching import EOS_ID, decode_ids, train_tokenizer
from transformer_book.common.checks import RTOL, assert_close
from transformer_book.data.numbers import number_pairs
from transformer_book.encoder_decoder.decoding import beam_search, greedy_decode, hypotheses, score_hypotheses
from transformer_book.encoder_decoder.evaluation import corpus_scores, encode_sources, exact_match, translate_sentences
from transformer_book.encoder_decoder.model import make_model


def test_perfect_translations_score_100():
    refs = ["Das ist gut.", "Er kommt morgen."]
    scores = corpus_scores(refs, refs)
    assert scores == pytest.approx({"bleu": 100.0, "chrf": 100.0})


def test_bleu_by_hand():
    # 13a tokenisation splits nothing off here. Matches: 5/6 unigrams, 3/5 bigrams, 2/4 trigrams,
    # 1/3 four-grams; equal lengths, so no brevity penalty.
    scores = corpus_scores(["the cat sat on the mat"], ["the cat sat on a mat"])
    by_hand = 100 * math.exp((math.log(5 / 6) + math.log(3 / 5) + math.log(2 / 4) + math.log(1 / 3)) / 4)
    assert scores["bleu"] == pytest.approx(by_hand, abs=1e-6)
    # A shorter hypothesis pays the brevity penalty exp(1 - r / c).
    short = corpus_scores(["the cat sat on"], ["the cat sat on the mat"])
    assert short["bleu"] == pytest.approx(100 * math.exp(1 - 6 / 4), abs=1e-6)
    assert 0 < corpus_scores(["a dog"], ["the cat sat on a mat"])["chrf"] < short["chrf"]


def test_corpus_bleu_is_not_the_mean_of_sentence_bleu():
    # n-gram counts are pooled over the corpus first: unigrams (5 + 1) / (6 + 2), bigrams
    # (3 + 0) / (5 + 1), trigrams 2 / 4, four-grams 1 / 3; the second sentence alone scores 0.
    hyps, refs = ["the cat sat on the mat", "a b"], ["the cat sat on a mat", "a c"]
    pooled = 100 * (6 / 8 * 3 / 6 * 2 / 4 * 1 / 3) ** 0.25
    assert corpus_scores(hyps, refs)["bleu"] == pytest.approx(pooled, abs=1e-6)
    assert corpus_scores(hyps[1:], refs[1:])["bleu"] == 0.0


def test_bad_inputs():
    with pytest.raises(ValueError, match="one reference per hypothesis"):
        corpus_scores(["a"], ["a", "b"])
    with pytest.raises(TypeError, match="list of strings"):
        corpus_scores("a b", "a b")
    with pytest.raises(TypeError, match="expected str"):
        corpus_scores([["a"]], ["a"])
    with pytest.raises(ValueError, match="no sentences"):
        corpus_scores([], [])


@pytest.fixture(scope="module")
def tiny_translator():
    pairs = number_pairs(300, seed=0)
    tokenizer = train_tokenizer(pairs, 60)
    torch.manual_seed(1)
    model = make_model(
        tokenizer.get_vocab_size(), N=1, d_model=16, d_ff=32, h=2, dropout=0.0, shared_vocab=True,
        tie_embeddings=False,
    )
    with torch.no_grad():  # large random output weights: untrained, but outputs that differ
        model.generator.proj.weight.normal_(0, 1.0)
        model.generator.proj.bias[EOS_ID] += 1.0
    return model.eval(), tokenizer, [src for src, _ in pairs[:9]]


def test_translate_sentences_keeps_order_and_matches_one_at_a_time(tiny_translator):
    model, tokenizer, sentences = tiny_translator
    for beam_size in (1, 3):
        batched = translate_sentences(model, tokenizer, sentences, beam_size=beam_size, max_len=8, batch_size=4)
        assert len(batched) == len(sentences) and all(isinstance(text, str) for text in batched)
        assert len(set(batched)) > len(sentences) // 2        # different inputs, different outputs
        for sentence, text in zip(sentences, batched):
            src = torch.tensor([tokenizer.encode(sentence, add_special_tokens=False).ids + [EOS_ID]])
            if beam_size == 1:
                ids = hypotheses(greedy_decode(model, src, 8))[0]
            else:
                ids = beam_search(model, src, beam_size, 8)[0]
            assert text == decode_ids(tokenizer, ids)
    assert translate_sentences(model, tokenizer, []) == []


def test_translate_sentences_bad_arguments(tiny_translator):
    model, tokenizer, sentences = tiny_translator
    with pytest.raises(TypeError, match="list of strings"):
        translate_sentences(model, tokenizer, "ein Satz")
    with pytest.raises(ValueError, match="beam_size"):
        translate_sentences(model, tokenizer, sentences, beam_size=0)
    with pytest.raises(ValueError, match="batch_size"):
        translate_sentences(model, tokenizer, sentences, batch_size=0)


def test_translate_sentences_scores_are_the_models_penalised_log_probs(tiny_translator):
    model, tokenizer, sentences = tiny_translator
    greedy, greedy_scores = translate_sentences(model, tokenizer, sentences, max_len=8, return_scores=True)
    beam, beam_scores = translate_sentences(model, tokenizer, sentences, beam_size=6, max_len=8, return_scores=True)
    assert greedy == translate_sentences(model, tokenizer, sentences, max_len=8)
    for sentence, score, beam_score in zip(sentences, greedy_scores, beam_scores):
        src = torch.tensor([tokenizer.encode(sentence, add_special_tokens=False).ids + [EOS_ID]])
        ids = hypotheses(greedy_decode(model, src, 8))
        assert_close(torch.tensor(score), score_hypotheses(model, src, ids, 8)[1][0], what="greedy score")
        assert beam_score >= score - RTOL * abs(score)   # here, a wide beam never scores below greedy
    assert translate_sentences(model, tokenizer, [], return_scores=True) == ([], [])


def test_encode_sources(tiny_translator):
    _, tokenizer, sentences = tiny_translator
    src = encode_sources(tokenizer, sentences[:3])
    assert src.dtype == torch.long and src.shape[0] == 3
    for row, sentence in zip(src.tolist(), sentences[:3]):
        ids = tokenizer.encode(sentence, add_special_tokens=False).ids + [EOS_ID]
        assert row[: len(ids)] == ids and all(t == 0 for t in row[len(ids):])
    with pytest.raises(ValueError, match="no sentences"):
        encode_sources(tokenizer, [])


def test_exact_match_counts_whole_strings(tiny_translator):
    model, tokenizer, sentences = tiny_translator
    outputs = translate_sentences(model, tokenizer, sentences, max_len=8)
    right = [(source, output) for source, output in zip(sentences, outputs)]
    wrong = [(source, output + "0") for source, output in zip(sentences, outputs)]      # one character more
    assert exact_match(model, tokenizer, right, max_len=8) == 1.0
    assert exact_match(model, tokenizer, wrong, max_len=8) == 0.0
    assert exact_match(model, tokenizer, right[:3] + wrong[3:4], max_len=8) == 0.75
    with pytest.raises(ValueError, match="at least one"):
        exact_match(model, tokenizer, [])
    with pytest.raises(TypeError, match="tuples"):
        exact_match(model, tokenizer, sentences)
