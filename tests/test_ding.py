import hashlib
import pytest

from transformer_book.data.packages import MissingDataError
from transformer_book.data.ding import (
    DING_PATH,
    clean_text,
    hash_fraction,
    is_sentence,
    load_ding_pairs,
    split_by_hash,
)

SAMPLE = """\
# Version :: devel 2023-01-30
# Copyright (c) :: someone
Aal {m} | Aale {pl} :: eel | eels
Abend {m} | Guten Abend! | Es wird Abend. [poet.] | Wir gehen heute aus. :: evening | Good evening! | Night is falling. [poet.] | We’re going out tonight.
ärgern {vt} | Das ärgert mich sehr. :: to annoy | That annoys me a lot.
Zeit {f} | Ich habe keine Zeit. | Das dauert lange. :: time | I have no time.
schnell {adj} | Er läuft „sehr“ schnell. | Er liest schnell; sie liest langsam. :: fast | He runs "very" fast. | He reads fast; she reads slowly.
helfen {vi} | Er hilft jdm. beim Umzug. | Sie half uns. | Hilf mir! :: to help | He helps sb. move house. | She helped us. | Help me!
Bericht {m} | Der Bericht stellte sich als falsch heraus. | Die Strafe war   hart. :: report | The report proved (to be) false. | The punishment was harsh/severe.
kleinschreibung | das ist ein Fehler. | Das ärgert mich sehr. :: lower case | this is a mistake. | That annoys me a lot.
"""


@pytest.fixture()
def sample_file(tmp_path):
    path = tmp_path / "de-en"
    path.write_text(SAMPLE, encoding="utf-8")
    return path


def test_cleaning_and_filtering(sample_file):
    pairs = load_ding_pairs(sample_file)
    assert pairs == [
        # [poet.] annotations removed, ’ normalised; "Guten Abend!" has too few words
        ("Es wird Abend.", "Night is falling."),
        ("Wir gehen heute aus.", "We're going out tonight."),
        ("Das ärgert mich sehr.", "That annoys me a lot."),
        # „“ normalised; the "; " alternative is dropped
        ('Er läuft "sehr" schnell.', 'He runs "very" fast.'),
        # the placeholder jdm./sb. is dropped; "Hilf mir!" is too short
        ("Sie half uns.", "She helped us."),
        # (to be) removed; the harsh/severe alternative and the misaligned "Zeit" line are dropped
        ("Der Bericht stellte sich als falsch heraus.", "The report proved false."),
        # the duplicate "Das ärgert mich sehr." is dropped, the lower-case "das ist ..." too
    ]


def test_clean_text_and_is_sentence():
    assert clean_text("Das  ist\tgut [ugs.] .") == "Das ist gut."
    assert clean_text("It’s „fine“ (really) [coll.]!") == "It's \"fine\"!"
    assert is_sentence("Das ist gut.") and is_sentence("Ist das gut?") and is_sentence("'Oh yes? How?'")
    assert not is_sentence("Das ist gut")          # no end mark
    assert not is_sentence("Sehr gut!")            # two words
    assert not is_sentence("das ist gut.")         # not capitalised
    assert not is_sentence("Der Hund {m} bellt.")  # grammar tag
    assert not is_sentence("Er gab jdm. etw. zurück.")


def test_missing_file_says_how_to_install(tmp_path):
    with pytest.raises(MissingDataError, match="sudo apt-get install trans-de-en"):
        load_ding_pairs(tmp_path / "no-such-file")
    assert issubclass(MissingDataError, FileNotFoundError)


def test_hash_fraction_is_stable():
    text = "Ich habe keine Zeit."
    expected = int.from_bytes(hashlib.sha1(text.encode("utf-8")).digest()[:8], "big") / 2**64
    assert hash_fraction(text) == expected
    # A constant, not Python's per-process hash(): the first 8 bytes of the SHA-1 are 7c9adf3929e01864.
    assert hash_fraction(text) == 0x7C9ADF3929E01864 / 2**64 == pytest.approx(0.486738158660842)
    assert all(0.0 <= hash_fraction(t) < 1.0 for t in ("", "a", "Zeit", "ä" * 100))


def test_split_by_hash_keeps_german_together():
    pairs = [(f"Satz Nummer {i % 300}.", f"Translation {i}.") for i in range(1000)]
    splits = split_by_hash(pairs, valid_fraction=0.1, test_fraction=0.2)
    assert set(splits) == {"train", "valid", "test"}
    assert sum(len(v) for v in splits.values()) == len(pairs)
    german = {name: {de for de, _ in split} for name, split in splits.items()}
    assert not german["train"] & german["valid"]
    assert not german["train"] & german["test"]
    assert not german["valid"] & german["test"]
    # Each split keeps the input order, and splitting again gives the same result.
    for split in splits.values():
        assert split == sorted(split, key=pairs.index)
    assert split_by_hash(list(reversed(pairs)), 0.1, 0.2)["test"] == list(reversed(splits["test"]))
    with pytest.raises(ValueError):
        split_by_hash(pairs, valid_fraction=0.6, test_fraction=0.5)
    with pytest.raises(ValueError):
        split_by_hash(pairs, valid_fraction=-0.1)


@pytest.mark.skipif(not DING_PATH.is_file(), reason="needs: sudo apt-get install trans-de-en")
def test_real_dictionary_sizes_and_split():
    pairs = load_ding_pairs()
    assert 12_000 < len(pairs) < 25_000
    assert len(set(pairs)) == len(pairs)
    assert all(is_sentence(de) and is_sentence(en) for de, en in pairs)
    assert not any("’" in de + en or "[" in de + en for de, en in pairs)
    splits = split_by_hash(pairs)
    sizes = {name: len(split) for name, split in splits.items()}
    assert sum(sizes.values()) == len(pairs)
    for name in ("valid", "test"):
        assert 0.04 < sizes[name] / len(pairs) < 0.06
    german = {name: {de for de, _ in split} for name, split in splits.items()}
    assert not (german["train"] & german["valid"] or german["train"] & german["test"]
                or german["valid"] & german["test"])
    assert split_by_hash(load_ding_pairs()) == splits
