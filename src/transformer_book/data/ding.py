"""German-English sentence pairs from the Ding dictionary (Debian/Ubuntu package ``trans-de-en``).

The dictionary (Frank Richter, TU Chemnitz; GPL 2 or later) is one entry per line::

    German :: English

and each side holds sub-entries separated by `` | ``, aligned one to one: the headword, its
forms, and often example sentences such as ``Er verliebte sich in sie. :: He fell in love with her.``
This module keeps those example sentences, cleaned, as (German, English) pairs.

The rules, applied to each aligned pair of sub-entries (lines whose sides have different numbers
of sub-entries are skipped):

1. Typographic quotes and apostrophes become plain ones (``„“”»«`` -> ``"``, ``‚‘’`` -> ``'``).
2. Bracketed annotations (``[coll.]``, ``[Br.]``) and parenthesised optional words
   (``The report proved (to be) false.``) are removed; whitespace is collapsed.
3. A sub-entry is kept only if, on both sides, it is a sentence: it starts with a capital letter,
   a digit or a quote, ends in ``.``, ``?`` or ``!`` (optionally followed by a closing quote), has
   at least 3 words, and has no grammar tag (``{m}``, ``{vt}``), no ``; `` list of alternatives,
   no ``/`` alternatives (``fit/match``) and no placeholder (``sb.``, ``sth.``, ``jdm.``, ``etw.``).
4. Exact duplicate pairs are dropped, keeping the first in file order.

``split_by_hash`` then divides the pairs into train/valid/test by a hash of the German side.
"""
from __future__ import annotations

import functools
import hashlib
import os
import re
from pathlib import Path
from typing import Iterator

from transformer_book.data.packages import MissingDataError

DING_PATH = Path("/usr/share/trans/de-en")
INSTALL_COMMAND = "sudo apt-get install trans-de-en"

_QUOTES = str.maketrans(
    {"„": '"', "“": '"', "”": '"', "»": '"', "«": '"', "‚": "'", "‘": "'", "’": "'", "´": "'", "`": "'"}
)
_BRACKETS = re.compile(r"\s*\[[^\[\]]*\]")
_PARENS = re.compile(r"\s*\([^()]*\)")
_SPACE_BEFORE_PUNCT = re.compile(r"\s+([.,;:?!])")
_SENTENCE_END = re.compile(r"[.?!][\"']?$")
_PLACEHOLDER = re.compile(r"\b(?:sb|sth|jd|jdm|jdn|jds|etw)\.")


def _check_str(name: str, value: str) -> None:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")


def clean_text(text: str) -> str:
    """One side of a sub-entry with quotes normalised, ``[...]`` annotations and ``(...)`` asides
    removed, and whitespace collapsed to single spaces."""
    _check_str("text", text)
    text = text.translate(_QUOTES)
    text = _BRACKETS.sub("", text)
    text = _PARENS.sub("", text)
    text = " ".join(text.split())
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


def is_sentence(text: str) -> bool:
    """Whether a cleaned sub-entry is a usable example sentence (rule 3 of the module docstring)."""
    _check_str("text", text)
    return (
        len(text.split()) >= 3
        and (text[0].isupper() or text[0].isdigit() or text[0] in "\"'")
        and _SENTENCE_END.search(text) is not None
        and "{" not in text
        and "}" not in text
        and ";" not in text
        and "/" not in text
        and "(" not in text
        and ")" not in text
        and "[" not in text
        and "]" not in text
        and _PLACEHOLDER.search(text) is None
    )


def _aligned_subentries(lines) -> Iterator[tuple[str, str]]:
    """The (German, English) sub-entries of an iterable of Ding lines, side by side: each
    ``German :: English`` line split at `` | `` on both sides (lines whose sides have different
    numbers of sub-entries are skipped, and so are comments). A single string, or an item that is
    not a string, is refused with ``TypeError``."""
    if isinstance(lines, (str, bytes)):
        raise TypeError(
            f"lines must be an iterable of lines (an open file, a list of str), got a single "
            f"{type(lines).__name__}; use text.splitlines()"
        )
    try:
        lines = iter(lines)
    except TypeError:
        raise TypeError(f"lines must be an iterable of str lines, got {type(lines).__name__}") from None
    for number, line in enumerate(lines, start=1):
        if not isinstance(line, str):
            raise TypeError(f"lines must hold str, got {type(line).__name__} {line!r} as line {number}")
        line = line.rstrip("\n")
        if line.startswith("#") or " :: " not in line:
            continue
        german, english = line.split(" :: ", 1)
        german_parts, english_parts = german.split(" | "), english.split(" | ")
        if len(german_parts) != len(english_parts):
            continue
        yield from zip(german_parts, english_parts)


def parse_ding_lines(lines) -> list[tuple[str, str]]:
    """The cleaned, de-duplicated (German, English) sentence pairs in an iterable of Ding lines
    (an open file or a list of strings; a single string is refused, as it would be read one
    character at a time). No lines, or none with a usable pair, give an empty list."""
    pairs: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for de_raw, en_raw in _aligned_subentries(lines):
        # Cheap tests first: most sub-entries are headwords, not sentences.
        if (
            de_raw.count(" ") < 2 or en_raw.count(" ") < 2
            or "{" in de_raw or "{" in en_raw or "; " in de_raw or "; " in en_raw
        ):
            continue
        pair = (clean_text(de_raw), clean_text(en_raw))
        if is_sentence(pair[0]) and is_sentence(pair[1]) and pair not in seen:
            seen.add(pair)
            pairs.append(pair)
    return pairs


def _ding_file(path: str | Path | None) -> tuple[Path, os.stat_result]:
    """The Ding file to read (``DING_PATH`` when None) and its ``stat``, after the checks that
    ``load_ding_pairs`` documents (``TypeError``, ``ValueError`` for a folder, ``MissingDataError``)."""
    if path is not None and not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or pathlib.Path, got {type(path).__name__}")
    file = Path(path) if path is not None else DING_PATH
    if file.is_dir():
        raise ValueError(f"path {str(file)!r} is a folder, not the Ding dictionary file (de-en) inside it")
    if not file.is_file():
        raise MissingDataError(
            f"the Ding German-English dictionary was not found at {file}; install it with:\n"
            f"    {INSTALL_COMMAND}\n"
            "(on Debian or Ubuntu; elsewhere, download the de-en file from https://dict.tu-chemnitz.de/ "
            "and pass its path)"
        )
    stat = file.stat()
    return file, stat


def load_ding_pairs(path: str | Path | None = None) -> list[tuple[str, str]]:
    """(German, English) example-sentence pairs from the Ding dictionary, cleaned, in file order.

    ``path`` defaults to ``DING_PATH`` (where ``sudo apt-get install trans-de-en`` puts it).
    Raises ``MissingDataError`` with the install command if the file is missing, ``ValueError``
    naming the file if it is a folder, is not UTF-8 text, or holds no ``German :: English`` line
    with an example sentence pair (empty or not a Ding file).
    """
    file, stat = _ding_file(path)
    pairs = _load_cached(str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    if not pairs:
        what = "is empty" if stat.st_size == 0 else "has no 'German :: English' line with an example sentence pair"
        raise ValueError(f"the Ding dictionary file {str(file)!r} {what}; is it the de-en file of trans-de-en?")
    return list(pairs)


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int, size: int) -> tuple[tuple[str, str], ...]:
    # Keyed on the file's modification time and size, so an updated file is read again.
    try:
        with open(path, encoding="utf-8") as handle:
            return tuple(parse_ding_lines(handle))
    except UnicodeDecodeError as error:
        raise ValueError(f"the Ding dictionary file {path!r} is not UTF-8 text ({error})") from error


def hash_fraction(text: str) -> float:
    """A number in [0, 1) fixed by ``text`` alone: the first 8 bytes of its SHA-1, scaled.

    Unlike Python's ``hash()``, it is the same in every process and on every machine.
    """
    _check_str("text", text)
    digest = hashlib.sha1(text.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def split_by_hash(
    pairs: list[tuple[str, str]], valid_fraction: float = 0.05, test_fraction: float = 0.05
) -> dict[str, list[tuple[str, str]]]:
    """Split pairs into ``{"train", "valid", "test"}`` by a hash of the German side.

    A pair goes to "test" if ``hash_fraction(german) < test_fraction``, else to "valid" if it is
    below ``test_fraction + valid_fraction``, else to "train". All pairs with the same German
    sentence therefore land in the same split, the split of a pair never depends on the other
    pairs, and it is the same on every run. Each split keeps the input order.
    ``pairs`` must be a list or tuple of (str, str) pairs; an empty one gives three empty splits.
    """
    for name, value in (("valid_fraction", valid_fraction), ("test_fraction", test_fraction)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise TypeError(f"{name} must be a number, got {type(value).__name__} {value!r}")
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{name}={value} must be in [0, 1)")
    if valid_fraction + test_fraction >= 1.0:
        raise ValueError(
            f"valid_fraction + test_fraction = {valid_fraction + test_fraction} leaves nothing to train on"
        )
    if not isinstance(pairs, (list, tuple)):
        raise TypeError(f"pairs must be a list of (German, English) pairs, got {type(pairs).__name__}")
    splits: dict[str, list[tuple[str, str]]] = {"train": [], "valid": [], "test": []}
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                and isinstance(pair[0], str) and isinstance(pair[1], str)):
            raise TypeError(f"pairs[{i}] is {pair!r}; expected a (German, English) tuple of two strings")
        u = hash_fraction(pair[0])
        if u < test_fraction:
            splits["test"].append(pair)
        elif u < test_fraction + valid_fraction:
            splits["valid"].append(pair)
        else:
            splits["train"].append(pair)
    return splits


# --------------------------------------------------------------------------------------------
# Multi-word phrase pairs (extra training data; not the book's test data)
# --------------------------------------------------------------------------------------------
# Grammar tags ({m}, {vt}, {pl}) and <...> cross-references (Umsatzsteuer <Verkaufssteuer>).
_TAGS = re.compile(r"\s*(?:\{[^{}]*\}|<[^<>]*>)")


def clean_phrase(text: str) -> str:
    """One alternative of a sub-entry with its grammar tags (``{m}``, ``{vt}``) and ``<...>``
    cross-references removed, then cleaned as ``clean_text`` cleans sentences (quotes, ``[...]``
    notes, ``(...)`` asides, whitespace)."""
    _check_str("text", text)
    return clean_text(_TAGS.sub("", text))


def is_phrase(text: str) -> bool:
    """Whether a cleaned alternative is a usable multi-word phrase: at least 2 words, and no
    leftover bracket, tag, ``/`` alternative, ``;`` list or placeholder (``sb.``, ``etw.``)."""
    _check_str("text", text)
    return (
        len(text.split()) >= 2
        and not any(char in text for char in "{}[]()<>/;")
        and _PLACEHOLDER.search(text) is None
    )


def parse_ding_phrase_lines(lines) -> list[tuple[str, str]]:
    """The (German, English) multi-word phrase pairs in an iterable of Ding lines.

    Each line's sides are split into sub-entries at `` | `` (skipped unless both sides have as
    many), and each aligned pair of sub-entries into alternatives at ``; `` (a pair of sub-entries
    whose sides have different numbers of alternatives is skipped: they are synonyms, not
    translations of each other one by one). Each aligned pair of alternatives is cleaned with
    ``clean_phrase`` and kept when both sides pass ``is_phrase`` (so no single words) and it is not
    an example sentence pair (both sides ``is_sentence``: those are ``parse_ding_lines``'s).
    Exact duplicates are dropped, keeping the first in file order.
    """
    pairs: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for de_part, en_part in _aligned_subentries(lines):
        de_alts, en_alts = de_part.split("; "), en_part.split("; ")
        if len(de_alts) != len(en_alts):
            continue
        for de_raw, en_raw in zip(de_alts, en_alts):
            if " " not in de_raw.strip() or " " not in en_raw.strip():
                continue   # a single word, with or without a tag: never a phrase
            pair = (clean_phrase(de_raw), clean_phrase(en_raw))
            if not (is_phrase(pair[0]) and is_phrase(pair[1])):
                continue
            if is_sentence(pair[0]) and is_sentence(pair[1]):
                continue
            if pair not in seen:
                seen.add(pair)
                pairs.append(pair)
    return pairs


def load_ding_phrase_pairs(path: str | Path | None = None) -> list[tuple[str, str]]:
    """(German, English) multi-word phrase pairs of the Ding dictionary (``parse_ding_phrase_lines``),
    in file order: extra training data for the translator, never its test data.

    ``path`` and the errors are as for ``load_ding_pairs`` (``MissingDataError`` with the install
    command when the file is missing, ``ValueError`` for a folder, a file that is not UTF-8, or one
    without any phrase pair). Mix them into a training split with ``leak_free_pairs``.
    """
    file, stat = _ding_file(path)
    pairs = _load_phrases_cached(str(file.resolve()), stat.st_mtime_ns, stat.st_size)
    if not pairs:
        what = "is empty" if stat.st_size == 0 else "has no 'German :: English' line with a multi-word phrase pair"
        raise ValueError(f"the Ding dictionary file {str(file)!r} {what}; is it the de-en file of trans-de-en?")
    return list(pairs)


@functools.lru_cache(maxsize=4)
def _load_phrases_cached(path: str, mtime_ns: int, size: int) -> tuple[tuple[str, str], ...]:
    try:
        with open(path, encoding="utf-8") as handle:
            return tuple(parse_ding_phrase_lines(handle))
    except UnicodeDecodeError as error:
        raise ValueError(f"the Ding dictionary file {path!r} is not UTF-8 text ({error})") from error


def leak_free_pairs(
    extra: list[tuple[str, str]],
    splits: dict[str, list[tuple[str, str]]],
    require_train_hash: bool = True,
    valid_fraction: float = 0.05,
    test_fraction: float = 0.05,
) -> list[tuple[str, str]]:
    """The pairs of ``extra`` that may be added to ``splits["train"]`` without leaking evaluation data.

    Dropped: with ``require_train_hash`` (for more pairs from the Ding dictionary itself), every
    pair that ``split_by_hash`` with the same fractions would not put in "train"; always, every
    pair whose German, after ``clean_text``, equals the cleaned German of a "valid" or "test" pair;
    and exact duplicates of a training pair or of an earlier extra pair. The order is kept.
    """
    if not isinstance(splits, dict) or not {"train", "valid", "test"} <= set(splits):
        raise TypeError("splits must be a dict with 'train', 'valid' and 'test' lists (see split_by_hash)")
    if not isinstance(require_train_hash, bool):
        raise TypeError(f"require_train_hash must be True or False, got {require_train_hash!r}")
    candidates = split_by_hash(extra, valid_fraction, test_fraction)   # checks extra and the fractions
    kept_pool = candidates["train"] if require_train_hash else list(extra)
    held_out = {clean_text(german) for name in ("valid", "test") for german, _ in splits[name]}
    seen = {tuple(pair) for pair in splits["train"]}
    kept: list[tuple[str, str]] = []
    for german, english in kept_pool:
        if clean_text(german) in held_out or (german, english) in seen:
            continue
        seen.add((german, english))
        kept.append((german, english))
    return kept
