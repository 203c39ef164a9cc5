"""Sentiment-rated snippets from the source archive of ``vaderSentiment`` 3.3.2 (Hutto and Gilbert, 2014).

The archive on PyPI (``vaderSentiment-3.3.2.tar.gz``, not the wheel) carries the paper's data in
``additional_resources/hutto_ICWSM_2014.tar.gz``: four corpora of short texts, each rated for
sentiment by about 20 people on a scale from -4 to +4. Lines of ``*_GroundTruth.txt`` read
``id <TAB> mean rating <TAB> text``. The movie-review snippets (10,605 of them) are the sentences
of Pang and Lee's review corpus; the book uses them for binary sentiment (rating > 0 is positive).

The loader looks for the archive in the cache folder (``$TRANSFORMER_BOOK_CACHE``, by default
``~/.cache/transformer_book``) and, when it is not there, fetches it with
``pip download --no-deps --no-binary vaderSentiment vaderSentiment==3.3.2`` (the source
archive, not the wheel).
"""
from __future__ import annotations

import functools
import hashlib
import os
import subprocess
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

from transformer_book.data.packages import MissingDataError

REQUIREMENT = "vaderSentiment==3.3.2"
ARCHIVE_NAME = "vaderSentiment-3.3.2.tar.gz"
ARCHIVE_SHA256 = "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9"   # as on PyPI
INNER_ARCHIVE = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
CORPORA = ("movieReviewSnippets", "amazonReviewSnippets", "nytEditorialSnippets", "tweets")


def cache_dir() -> Path:
    """Where fetched archives live: ``$TRANSFORMER_BOOK_CACHE`` or ``~/.cache/transformer_book``
    (also when the variable is set but empty, which would otherwise mean the current folder)."""
    return Path(os.environ.get("TRANSFORMER_BOOK_CACHE") or Path.home() / ".cache" / "transformer_book")


def _check_fetch(fetch: bool) -> None:
    if not isinstance(fetch, bool):
        raise TypeError(f"fetch must be True or False, got {fetch!r}")


def fetch_command(folder: Path) -> list[str]:
    """The pip command that downloads the source archive into ``folder``."""
    return [sys.executable, "-m", "pip", "download", "-q", "--no-deps", "--no-binary", "vaderSentiment",
            REQUIREMENT, "-d", str(folder)]


def vader_archive(fetch: bool = True) -> Path:
    """The path of ``vaderSentiment-3.3.2.tar.gz``, fetching it through pip if it is missing.

    Raises ``MissingDataError``, with the command to run, when it is missing and cannot be fetched,
    and ``ValueError`` when what is there is a folder or not the archive on PyPI.
    """
    _check_fetch(fetch)
    path = cache_dir() / ARCHIVE_NAME
    if path.is_dir():
        raise ValueError(f"{path} is a folder, not the vaderSentiment source archive; remove it and fetch again")
    if path.exists():
        return _checked(path)
    command = fetch_command(path.parent)
    how = (f"fetch it with:\n    {' '.join(command)}\nor with:\n    python -m transformer_book.data install")
    if not fetch:
        raise MissingDataError(f"the vaderSentiment source archive is not in {path.parent}; {how}")
    path.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0 or not path.exists():
        raise MissingDataError(
            f"could not fetch the vaderSentiment source archive into {path.parent} "
            f"(pip said: {result.stderr.strip()[-500:] or 'nothing'}); {how}"
        )
    return _checked(path)


def _checked(path: Path) -> Path:
    """``path``, after checking that its SHA-256 is the one of the archive on PyPI."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != ARCHIVE_SHA256:
        raise ValueError(f"{path} is not the vaderSentiment 3.3.2 source archive (SHA-256 {digest}); delete it and fetch it again")
    return path


def _fix_mojibake(text: str) -> str:
    """Some snippets were stored as UTF-8 read as Latin-1 ("clichÃ©s"); undo that where it applies."""
    try:
        return text.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        return text


@functools.lru_cache(maxsize=8)
def _ground_truth(archive: str, corpus: str) -> bytes:
    """The bytes of ``<corpus>_GroundTruth.txt`` inside the archive inside the archive."""
    with tarfile.open(archive) as outer:
        inner_bytes = outer.extractfile(INNER_ARCHIVE)
        if inner_bytes is None:
            raise FileNotFoundError(f"{INNER_ARCHIVE} is missing from {archive}")
        with tarfile.open(fileobj=inner_bytes) as inner:
            return inner.extractfile(f"hutto_ICWSM_2014/{corpus}_GroundTruth.txt").read()


@dataclass(frozen=True)
class Snippet:
    """One rated text: its ``id`` in the corpus, the mean human ``rating`` (-4..4) and the ``text``."""

    id: int
    rating: float
    text: str


def load_snippets(corpus: str = "movieReviewSnippets", fetch: bool = True) -> list[Snippet]:
    """The rated snippets of one corpus of the archive (default: the 10,605 movie-review snippets).

    ``corpus`` must be one of ``CORPORA`` (``KeyError`` otherwise, ``TypeError`` for a non-string).
    """
    if not isinstance(corpus, str):
        raise TypeError(f"corpus must be a str, one of {CORPORA}, got {type(corpus).__name__} {corpus!r}")
    _check_fetch(fetch)
    if corpus not in CORPORA:
        raise KeyError(f"unknown corpus {corpus!r}; the archive holds {CORPORA}")
    raw = _ground_truth(str(vader_archive(fetch)), corpus)
    snippets = []
    for number, line in enumerate(raw.decode("utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise ValueError(f"{corpus}_GroundTruth.txt line {number}: expected 3 tab-separated fields, got {len(fields)}")
        snippets.append(Snippet(int(fields[0]), float(fields[1]), _fix_mojibake(fields[2]).strip()))
    return snippets


def split_of(text: str, test_fraction: float = 0.2) -> str:
    """``"train"`` or ``"test"``, decided by a hash of the text: fixed forever, whatever the order.

    ``test_fraction`` must be a number in [0, 1] (0: everything is train, 1: everything is test).
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    if isinstance(test_fraction, bool) or not isinstance(test_fraction, (int, float)):
        raise TypeError(f"test_fraction must be a number, got {type(test_fraction).__name__} {test_fraction!r}")
    if not 0.0 <= test_fraction <= 1.0:
        raise ValueError(f"test_fraction must be in [0, 1], got {test_fraction}")
    bucket = int(hashlib.sha1(text.encode("utf-8")).hexdigest()[:8], 16) / 16**8   # uniform in [0, 1)
    return "test" if bucket < test_fraction else "train"


def movie_review_splits(fetch: bool = True) -> dict[str, list[tuple[str, int]]]:
    """The binary movie-review task: ``{"train": [(text, label)], "test": [...]}``.

    ``label`` is 1 for a positive mean rating and 0 for a negative one; the few snippets rated
    exactly 0 are left out, and a text that occurs twice is kept once. About 20% go to the test
    split, chosen by a hash of the text (``split_of``).
    """
    _check_fetch(fetch)
    splits: dict[str, list[tuple[str, int]]] = {"train": [], "test": []}
    seen = set()
    for snippet in load_snippets("movieReviewSnippets", fetch):
        if snippet.rating == 0 or snippet.text in seen:
            continue
        seen.add(snippet.text)
        splits[split_of(snippet.text)].append((snippet.text, int(snippet.rating > 0)))
    return splits
