"""The movie-review snippets from vaderSentiment's source archive: fetching, parsing, the fixed split."""
import random
import string
import sys

import pytest

from transformer_book.data import sentiment
from transformer_book.data.packages import MissingDataError


def _archive_or_skip():
    try:
        return sentiment.vader_archive(fetch=False)
    except MissingDataError:
        pytest.skip("the vaderSentiment 3.3.2 source archive is not in the cache: "
                    "run `python -m transformer_book.data install vaderSentiment`")


def test_split_is_fixed_by_the_text_and_about_one_fifth_test():
    rng = random.Random(0)
    texts = ["".join(rng.choices(string.ascii_letters, k=20)) for _ in range(20_000)]
    splits = [sentiment.split_of(text) for text in texts]
    assert splits == [sentiment.split_of(text) for text in texts]          # no state, no order
    assert abs(splits.count("test") / len(splits) - 0.2) < 0.01
    assert set(splits) == {"train", "test"}


def test_mojibake_is_repaired_and_clean_text_left_alone():
    assert sentiment._fix_mojibake("clichÃ©s") == "clichés"
    assert sentiment._fix_mojibake("clichés") == "clichés"          # not Latin-1-encodable as UTF-8 bytes
    assert sentiment._fix_mojibake("plain text") == "plain text"
    assert sentiment._fix_mojibake("a – b") == "a – b"              # outside Latin-1: kept


def test_missing_archive_without_fetching_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFORMER_BOOK_CACHE", str(tmp_path))
    with pytest.raises(MissingDataError, match="pip download .*vaderSentiment==3.3.2"):
        sentiment.vader_archive(fetch=False)


def test_failed_fetch_raises_a_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFORMER_BOOK_CACHE", str(tmp_path))
    monkeypatch.setattr(sentiment, "fetch_command", lambda folder: [sys.executable, "-c", "raise SystemExit(3)"])
    with pytest.raises(MissingDataError, match="could not fetch"):
        sentiment.vader_archive(fetch=True)


def test_a_corrupted_archive_is_refused(tmp_path, monkeypatch):
    monkeypatch.setenv("TRANSFORMER_BOOK_CACHE", str(tmp_path))
    (tmp_path / sentiment.ARCHIVE_NAME).write_bytes(b"not the archive")
    with pytest.raises(ValueError, match="SHA-256"):
        sentiment.vader_archive(fetch=False)


def test_unknown_corpus_is_refused():
    with pytest.raises(KeyError, match="unknown corpus"):
        sentiment.load_snippets("imdb")


def test_the_four_corpora_parse():
    _archive_or_skip()
    sizes = {corpus: len(sentiment.load_snippets(corpus)) for corpus in sentiment.CORPORA}
    assert sizes == {"movieReviewSnippets": 10605, "amazonReviewSnippets": 3708,
                     "nytEditorialSnippets": 5190, "tweets": 4200}
    first = sentiment.load_snippets()[0]
    assert first.id == 1 and first.rating == pytest.approx(2.26666666667)
    assert first.text.startswith("The Rock is destined to be the 21st Century's new")
    ratings = [s.rating for s in sentiment.load_snippets()]
    assert -4 <= min(ratings) and max(ratings) <= 4


def test_movie_review_splits_are_disjoint_balanced_and_binary():
    _archive_or_skip()
    splits = sentiment.movie_review_splits()
    train, test = splits["train"], splits["test"]
    assert len(train) + len(test) == 10566                   # 10,605 - 37 rated 0 - 2 duplicates
    assert 0.18 < len(test) / (len(train) + len(test)) < 0.22
    assert not {t for t, _ in train} & {t for t, _ in test}
    for part in (train, test):
        labels = [label for _, label in part]
        assert set(labels) == {0, 1}
        assert 0.45 < sum(labels) / len(labels) < 0.55
    assert not any("Ã" in text for text, _ in train + test)   # the mojibake was repaired
    assert splits == sentiment.movie_review_splits()           # the same split every time
