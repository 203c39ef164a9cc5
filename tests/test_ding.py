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


# --- multi-word phrase pairs -----------------------------------------------------------------
from transformer_book.data.ding import (  # noqa: E402
    clean_phrase,
    is_phrase,
    leak_free_pairs,
    load_ding_phrase_pairs,
    parse_ding_phrase_lines,
)

PHRASES = """\
# Version :: devel 2023-01-30
Aal {m} | Aale {pl} :: eel | eels
Abholort {m} | Abholorte {pl} :: collection location; pickup location | collection locations; pickup locations
Abholservice {m} :: pick-up service
elektrischer Zug {m}; E-Zug {m} [Bahn] :: electric train; electric locomotive
Umsatzsteuer <Verkaufssteuer> {f} | die hohe Umsatzsteuer :: turnover tax | the high turnover tax
Abend {m} | Guten Abend! | Es wird Abend. :: evening | Good evening! | Night is falling.
jdm. etw. geben {vt} | etw. zurückgeben :: to give sb. sth. | to give sth. back
auf frischer Tat (ertappt) | harter Aufprall; hartes Aufprallen :: caught in the act | hard impact
Stand der Technik; technischer Stand :: state of the art; current technology; prior art
fit/passend sein :: to fit/match
Abend {m} | Guten Abend! :: evening | Good evening!
"""


def test_phrase_pairs_from_ding_lines():
    pairs = parse_ding_phrase_lines(PHRASES.splitlines())
    # Single words never ("eel", "Abholort", "Abholservice" after its {m} is removed): both
    # sides need two words or more.
    assert pairs == [
        # {m} tags and [Bahn] notes removed; "; " alternatives aligned one to one; "E-Zug" one word
        ("elektrischer Zug", "electric train"),
        # <...> cross-reference and {f} removed; "Umsatzsteuer" alone is one word
        ("die hohe Umsatzsteuer", "the high turnover tax"),
        # "Es wird Abend." / "Night is falling." is an example sentence pair (parse_ding_lines'),
        # "Guten Abend!" / "Good evening!" (two words each) is a phrase pair
        ("Guten Abend!", "Good evening!"),
        # (ertappt) removed; sb./etw. placeholders dropped; 2 vs 1 alternatives: skipped
        ("auf frischer Tat", "caught in the act"),
        # 2 German but 3 English alternatives: skipped; "/" alternatives: dropped; the repeated
        # "Guten Abend!" line: a duplicate
    ]
    assert all(is_phrase(de) and is_phrase(en) for de, en in pairs)


def test_clean_phrase_and_is_phrase():
    assert clean_phrase("elektrischer Zug {m} [Bahn]") == "elektrischer Zug"
    assert clean_phrase("Umsatzsteuer <Verkaufssteuer> {f}") == "Umsatzsteuer"
    assert clean_phrase("auf „frischer“ Tat (ertappt)") == 'auf "frischer" Tat'
    assert is_phrase("die hohe Steuer") and is_phrase("Guten Abend!")
    assert not is_phrase("Steuer")                 # one word
    assert not is_phrase("jdm. helfen")            # placeholder
    assert not is_phrase("fit/passend sein")       # / alternatives
    assert not is_phrase("Zug {m}")                # a tag left in
    with pytest.raises(TypeError, match="text must be a str"):
        clean_phrase(None)
    with pytest.raises(TypeError, match="text must be a str"):
        is_phrase(3)
    with pytest.raises(TypeError, match="single str"):
        parse_ding_phrase_lines(PHRASES)


def test_load_phrase_pairs_file_errors(tmp_path):
    path = tmp_path / "de-en"
    path.write_text(PHRASES, encoding="utf-8")
    assert load_ding_phrase_pairs(path) == parse_ding_phrase_lines(PHRASES.splitlines())
    with pytest.raises(MissingDataError, match="sudo apt-get install trans-de-en"):
        load_ding_phrase_pairs(tmp_path / "no-such-file")
    with pytest.raises(ValueError, match="folder"):
        load_ding_phrase_pairs(tmp_path)
    empty = tmp_path / "empty"
    empty.write_text("Aal {m} :: eel\n", encoding="utf-8")
    with pytest.raises(ValueError, match="no 'German :: English' line with a multi-word phrase pair"):
        load_ding_phrase_pairs(empty)
    with pytest.raises(TypeError, match="path must be"):
        load_ding_phrase_pairs(3)


def test_leak_free_pairs_keeps_evaluation_german_out():
    sentences = [(f"Satz Nummer {i}.", f"Sentence {i}.") for i in range(400)]
    splits = split_by_hash(sentences, valid_fraction=0.1, test_fraction=0.1)
    held_out_german = [de for name in ("valid", "test") for de, _ in splits[name]]
    extra = (
        [(f"Wort Nummer {i}", f"word {i}") for i in range(400)]          # new German phrases
        + [(held_out_german[0], "a new translation")]                   # German of a test/valid pair
        + [(held_out_german[1] + "  ", "spaces differ")]                # the same after clean_text
        + [splits["train"][0]]                                          # a training pair again
        + [("Wort Nummer 0", "word 0")]                                 # a duplicate extra pair
    )
    kept = leak_free_pairs(extra, splits, valid_fraction=0.1, test_fraction=0.1)
    expected_train = split_by_hash(extra[:400], 0.1, 0.1)["train"]
    assert kept == expected_train
    assert 250 < len(kept) < 350
    # Without the hash rule (data from elsewhere) only the held-out German and duplicates go.
    assert leak_free_pairs(extra, splits, require_train_hash=False) == extra[:400]
    with pytest.raises(TypeError, match="splits must be a dict"):
        leak_free_pairs(extra, {"train": []})
    with pytest.raises(TypeError, match="pairs\\[0\\]"):
        leak_free_pairs([("a", 1)], splits)


@pytest.mark.skipif(not DING_PATH.is_file(), reason="needs: sudo apt-get install trans-de-en")
def test_real_dictionary_phrase_pairs():
    phrases = load_ding_phrase_pairs()
    assert 30_000 < len(phrases) < 70_000
    assert len(set(phrases)) == len(phrases)
    assert all(len(de.split()) >= 2 and len(en.split()) >= 2 for de, en in phrases)
    assert not any(char in de + en for de, en in phrases for char in "{}[]<>")
    splits = split_by_hash(load_ding_pairs())
    kept = leak_free_pairs(phrases, splits)
    held_out = {de for name in ("valid", "test") for de, _ in splits[name]}
    assert not {de for de, _ in kept} & held_out
    assert all(hash_fraction(de) >= 0.1 for de, _ in kept)
    assert 0.85 < len(kept) / len(phrases) < 0.92
