"""WordNet 3.0 for METEOR's synonym matches, read offline from Debian's ``wordnet-base`` package.

``nltk`` reads WordNet from a folder of the Princeton database files (``data.noun``,
``index.verb``, ``noun.exc``, ... and ``lexnames``). Debian's ``wordnet-base`` installs the database
files in ``/usr/share/wordnet`` but not the small ``lexnames`` table (the 45 lexicographer file
names); that table is printed in the package's own manual page, ``lexnames(5WN)``. So
``wordnet_reader`` copies the database files (30 MB) into a temporary folder, removed at exit, writes ``lexnames`` from the
manual page, and gives ``nltk`` that folder: nothing is downloaded, nothing is copied into the repo.
"""
from __future__ import annotations

import atexit
import functools
import gzip
import os
import re
import shutil
import tempfile
import warnings
from pathlib import Path

from transformer_book.data.packages import MissingDataError

WORDNET_DIR = Path("/usr/share/wordnet")
LEXNAMES_MANPAGE = Path("/usr/share/man/man5/lexnames.5WN.gz")
INSTALL_COMMAND = "sudo apt-get install wordnet-base"
DATABASE_FILES = tuple(f"{kind}.{pos}" for kind in ("data", "index") for pos in ("adj", "adv", "noun", "verb")) + (
    "adj.exc", "adv.exc", "noun.exc", "verb.exc")
_LEXNAME_ROW = re.compile(r"^(\d\d)\t(\w+\.\w+)\s*\t")
_CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}     # the third field of lexnames(5WN)


def lexnames_from_manpage(text: str) -> str:
    """The ``lexnames`` file (``NN<TAB>name<TAB>category`` per line) from the troff source of the
    manual page lexnames(5WN). Raises ``ValueError`` unless it finds file numbers 00, 01, ... in order."""
    rows = [match.groups() for match in map(_LEXNAME_ROW.match, text.splitlines()) if match]
    if not rows or [int(number) for number, _ in rows] != list(range(len(rows))):
        raise ValueError("the manual page lexnames(5WN) has no table of lexicographer files numbered 00, 01, ...")
    return "".join(f"{number}\t{name}\t{_CATEGORY[name.split('.')[0]]}\n" for number, name in rows)


def _check_installed(wordnet_dir: Path, manpage: Path) -> None:
    missing = [str(wordnet_dir / name) for name in DATABASE_FILES if not (wordnet_dir / name).is_file()]
    if not manpage.is_file():
        missing.append(str(manpage))
    if missing:
        raise MissingDataError(
            f"WordNet 3.0 is not installed (missing {', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}); "
            f"install Debian's wordnet-base: {INSTALL_COMMAND} (make setup does it)")


@functools.lru_cache(maxsize=None)
def _prepared_folder(wordnet_dir: Path, manpage: Path) -> Path:
    folder = Path(tempfile.mkdtemp(prefix="transformer-book-wordnet-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    for name in DATABASE_FILES:   # copies: nltk refuses symbolic and hard links to files outside its folder
        shutil.copyfile(wordnet_dir / name, folder / name)
    (folder / "lexnames").write_text(lexnames_from_manpage(gzip.decompress(manpage.read_bytes()).decode("latin-1")))
    return folder


def wordnet_reader(wordnet_dir: str | os.PathLike = WORDNET_DIR, manpage: str | os.PathLike = LEXNAMES_MANPAGE):
    """An ``nltk`` ``WordNetCorpusReader`` over Debian's WordNet 3.0 files (no Open Multilingual
    Wordnet). Raises ``MissingDataError`` naming the apt command when the files are missing."""
    import nltk
    from nltk.corpus.reader.wordnet import WordNetCorpusReader

    class DebianWordNet(WordNetCorpusReader):
        def map_wn(self, version: str = "wordnet") -> None:
            # nltk would map synsets from its own downloaded "wordnet" corpus to this one; these
            # files are WordNet 3.0 itself, so there is nothing to map (and nothing to download).
            return None

    wordnet_dir, manpage = Path(wordnet_dir), Path(manpage)
    _check_installed(wordnet_dir, manpage)
    folder = _prepared_folder(wordnet_dir.resolve(), manpage.resolve())
    # nltk opens corpus files only under the folders on nltk.data.path.
    if str(folder) not in nltk.data.path:
        nltk.data.path.append(str(folder))
    with warnings.catch_warnings():   # "multilingual functions are not available": no OMW, as intended
        warnings.simplefilter("ignore", UserWarning)
        return DebianWordNet(str(folder), None)
