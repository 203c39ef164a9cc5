"""WordNet 3.0 read offline from Debian's wordnet-base for METEOR (transformer_book.data.wordnet):
the lexnames table rebuilt from the manual page, the reader over the installed files, and clear
errors when the files are missing or the manual page has no table."""
from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from transformer_book.data.packages import MissingDataError
from transformer_book.data.wordnet import (DATABASE_FILES, LEXNAMES_MANPAGE, WORDNET_DIR, lexnames_from_manpage,
                                           wordnet_reader)

INSTALLED = all((WORDNET_DIR / name).is_file() for name in DATABASE_FILES) and LEXNAMES_MANPAGE.is_file()
needs_wordnet = pytest.mark.skipif(not INSTALLED, reason="wordnet-base is not installed (make setup installs it)")

MANPAGE = """.TS
l l l.
\\fBFile Number\\fP\t\\fBName\\fP\t\\fBContents\\fP
_
00\tadj.all\tall adjective clusters
01\tadj.pert\trelational adjectives (pertainyms)
02\tadv.all\tall adverbs
03\tnoun.Tops\tunique beginner for nouns
04\tverb.body  \tverbs of grooming
.TE
"""


def test_lexnames_rows_have_number_name_and_category():
    assert lexnames_from_manpage(MANPAGE) == ("00\tadj.all\t3\n01\tadj.pert\t3\n02\tadv.all\t4\n"
                                              "03\tnoun.Tops\t1\n04\tverb.body\t2\n")


@pytest.mark.parametrize("text", ["no table here", MANPAGE.replace("01\tadj.pert", "07\tadj.pert")])
def test_a_manual_page_without_a_numbered_table_is_refused(text):
    with pytest.raises(ValueError, match="lexicographer files numbered 00, 01"):
        lexnames_from_manpage(text)


def test_missing_files_name_the_apt_command(tmp_path):
    with pytest.raises(MissingDataError, match="apt-get install wordnet-base"):
        wordnet_reader(tmp_path, tmp_path / "lexnames.5WN.gz")


def test_a_missing_manual_page_is_named(tmp_path):
    for name in DATABASE_FILES:
        (tmp_path / name).write_text("")
    with pytest.raises(MissingDataError, match="lexnames.5WN.gz"):
        wordnet_reader(tmp_path, tmp_path / "lexnames.5WN.gz")


@needs_wordnet
def test_the_installed_manual_page_gives_the_45_lexicographer_files():
    rows = lexnames_from_manpage(gzip.decompress(LEXNAMES_MANPAGE.read_bytes()).decode("latin-1")).splitlines()
    assert len(rows) == 45
    assert rows[0] == "00\tadj.all\t3" and rows[5] == "05\tnoun.animal\t1" and rows[44] == "44\tadj.ppl\t3"


@needs_wordnet
def test_the_reader_knows_synonyms_and_lexicographer_files():
    wordnet = wordnet_reader()
    assert wordnet.get_version() == "3.0"
    car = wordnet.synsets("car")[0]
    assert car.name() == "car.n.01" and "automobile" in car.lemma_names() and car.lexname() == "noun.artifact"
    assert wordnet.synsets("dog")[0].lexname() == "noun.animal"
    assert wordnet.morphy("geese") == "goose"          # the exception lists (noun.exc) are read too


@needs_wordnet
def test_meteor_uses_the_synonyms():
    from nltk.translate.meteor_score import single_meteor_score
    wordnet = wordnet_reader()
    with_synonym = single_meteor_score("he drove the auto home".split(), "he drove the car home".split(), wordnet=wordnet)
    assert with_synonym == pytest.approx((1 - 0.5 * (1 / 5) ** 3), rel=1e-12)   # 5 of 5 words, one chunk
