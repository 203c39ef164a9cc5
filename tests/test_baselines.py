"""The retrieval baseline against a brute-force search over every training pair."""
import random

import pytest
import sacrebleu
import torch

from transformer_book.encoder_decoder.baselines import char_ngrams, retrieval_baseline, shared_ngrams

WORDS = "der die das haus hund katze ist groß klein und ein eine nicht sehr alt neu".split()


def random_sentences(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(2, 7))) for _ in range(count)]


def brute_force(train_pairs, sources):
    out = []
    for sentence in sources:
        scores = [sacrebleu.sentence_chrf(src, [sentence]).score for src, _ in train_pairs]
        out.append(train_pairs[scores.index(max(scores))][1])    # the first of the best
    return out


def test_char_ngrams_ignore_spaces_and_count_each_gram_once():
    assert char_ngrams("ab a", order=2) == {"a", "b", "ab", "ba"}
    assert len(char_ngrams("abcdefg")) == 7 + 6 + 5 + 4 + 3 + 2


def test_shared_ngrams_counts_the_intersection():
    queries, corpus = ["das haus", "hund"], ["das", "haus", "hund ist"]
    shared = shared_ngrams(queries, corpus)
    expected = torch.tensor([[len(char_ngrams(q) & char_ngrams(c)) for c in corpus] for q in queries], dtype=torch.float32)
    assert torch.equal(shared, expected)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_search_matches_brute_force(seed):
    train = [(de, f"english {i}") for i, de in enumerate(random_sentences(60, seed))]
    sources = random_sentences(15, seed + 100)
    assert retrieval_baseline(train, sources, candidates=len(train)) == brute_force(train, sources)


def test_the_shortlist_finds_the_same_neighbours_here():
    train = [(de, f"english {i}") for i, de in enumerate(random_sentences(300, 5))]
    sources = random_sentences(30, 6)
    assert retrieval_baseline(train, sources, candidates=50) == brute_force(train, sources)


def test_a_training_sentence_retrieves_its_own_translation():
    train = [(de, f"english {i}") for i, de in enumerate(random_sentences(40, 3))]
    unique = [(i, de) for i, (de, _) in enumerate(train) if [d for d, _ in train].count(de) == 1][:5]
    assert retrieval_baseline(train, [de for _, de in unique], candidates=10) == [f"english {i}" for i, _ in unique]


def test_bad_input_is_refused():
    with pytest.raises(TypeError, match="train_pairs"):
        retrieval_baseline([], ["x"])
    with pytest.raises(TypeError, match="train_pairs"):
        retrieval_baseline([("a", 1)], ["x"])
    with pytest.raises(TypeError, match="sources"):
        retrieval_baseline([("a", "b")], "a sentence")
    with pytest.raises(ValueError, match="candidates"):
        retrieval_baseline([("a", "b")], ["x"], candidates=0)
    assert retrieval_baseline([("a", "b")], []) == []
