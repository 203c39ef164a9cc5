import pytest

from transformer_book.data.numbers import digit_spans, german_number, number_pairs

KNOWN = {
    0: "null",
    1: "eins",
    7: "sieben",
    11: "elf",
    12: "zwölf",
    16: "sechzehn",
    17: "siebzehn",
    20: "zwanzig",
    21: "einundzwanzig",
    30: "dreißig",
    31: "einunddreißig",
    66: "sechsundsechzig",
    77: "siebenundsiebzig",
    99: "neunundneunzig",
    100: "hundert",
    101: "hunderteins",
    103: "hundertdrei",
    111: "hundertelf",
    121: "hunderteinundzwanzig",
    200: "zweihundert",
    312: "dreihundertzwölf",
    999: "neunhundertneunundneunzig",
    1000: "tausend",
    1001: "tausendeins",
    1100: "tausendeinhundert",
    1999: "tausendneunhundertneunundneunzig",
    2000: "zweitausend",
    2024: "zweitausendvierundzwanzig",
    2100: "zweitausendeinhundert",
    2411: "zweitausendvierhundertelf",
    7016: "siebentausendsechzehn",
    9999: "neuntausendneunhundertneunundneunzig",
    21000: "einundzwanzigtausend",
    101000: "hunderteintausend",
    999999: "neunhundertneunundneunzigtausendneunhundertneunundneunzig",
}


@pytest.mark.parametrize("n, word", sorted(KNOWN.items()))
def test_known_numbers(n, word):
    assert german_number(n) == word


def test_words_are_distinct_lowercase_single_words():
    words = [german_number(n) for n in range(10_000)]
    assert len(set(words)) == len(words)
    assert all(w.isalpha() and w == w.lower() for w in words)


def test_bad_numbers_are_rejected():
    for bad in (-1, 1_000_000):
        with pytest.raises(ValueError):
            german_number(bad)
    with pytest.raises(TypeError):
        german_number(3.0)


def test_number_pairs_deterministic_and_distinct():
    pairs = number_pairs(500, seed=3)
    assert pairs == number_pairs(500, seed=3)
    assert pairs != number_pairs(500, seed=4)
    assert len({digits for _, digits in pairs}) == 500
    for word, digits in pairs:
        assert german_number(int(digits)) == word
        assert 0 <= int(digits) <= 9999
    assert all(int(d) <= 50 for _, d in number_pairs(51, max_value=50))
    assert number_pairs(0) == []


def test_number_pairs_bad_arguments():
    with pytest.raises(ValueError, match="distinct"):
        number_pairs(11, max_value=9)
    with pytest.raises(ValueError):
        number_pairs(-1)
    with pytest.raises(ValueError):
        number_pairs(5, max_value=10**7)


# digit_spans: which part of the word names each digit
def named(n):
    """The text that names each digit of n (None where nothing does)."""
    word = german_number(n)
    return [None if span is None else word[span[0]:span[1]] for span in digit_spans(n)]


SPANS = {
    0: ["null"],
    1: ["eins"],
    10: ["zehn", "zehn"],
    17: ["siebzehn", "siebzehn"],
    20: ["zwanzig", None],
    21: ["zwanzig", "ein"],
    23: ["zwanzig", "drei"],
    100: ["hundert", None, None],
    101: ["hundert", None, "eins"],
    312: ["drei", "zwölf", "zwölf"],
    1000: ["tausend", None, None, None],
    1001: ["tausend", None, None, "eins"],
    1100: ["tausend", "ein", None, None],
    2024: ["zwei", None, "zwanzig", "vier"],
    2100: ["zwei", "ein", None, None],
    7016: ["sieben", None, "sechzehn", "sechzehn"],
    21000: ["zwanzig", "ein", None, None, None],
    101000: ["hundert", None, "ein", None, None, None],
    999999: ["neun", "neunzig", "neun", "neun", "neunzig", "neun"],
}


@pytest.mark.parametrize("n, names", sorted(SPANS.items()))
def test_digit_spans_name_the_right_word_parts(n, names):
    assert named(n) == names


def test_digit_spans_exact_offsets():
    assert digit_spans(23) == [(7, 14), (0, 4)]              # dreiundzwanzig
    assert digit_spans(17) == [(0, 8), (0, 8)]               # siebzehn
    assert digit_spans(2024) == [(0, 4), None, (18, 25), (11, 15)]
    assert digit_spans(1100) == [(0, 7), (7, 10), None, None]
    assert digit_spans(100) == [(0, 7), None, None]
    assert digit_spans(0) == [(0, 4)]


PARTS = {"null", "eins", "ein", "hundert", "tausend", *(german_number(n) for n in range(1, 20)),
         *(german_number(10 * t) for t in range(2, 10))}


def _span_property_holds(n):
    word, spans = german_number(n), digit_spans(n)
    assert len(spans) == len(str(n))
    for digit, span in zip(str(n), spans):
        if span is None:
            assert digit == "0", (n, spans)
            continue
        start, end = span
        assert 0 <= start < end <= len(word), (n, span)
        assert word[start:end] in PARTS, (n, word[start:end])
    # spans of different words never overlap partly
    distinct = sorted(set(span for span in spans if span is not None))
    assert all(a[1] <= b[0] for a, b in zip(distinct, distinct[1:])), (n, spans)


def test_digit_spans_property_on_every_number_below_ten_thousand():
    for n in range(10_000):
        _span_property_holds(n)


def test_digit_spans_property_on_large_numbers():
    import random

    for n in random.Random(0).sample(range(10_000, 1_000_000), 3000) + [10_000, 100_000, 110_011, 999_999]:
        _span_property_holds(n)


def test_every_nonzero_digit_is_named_and_zeros_only_by_null_or_zehn():
    for n in list(range(10_000)) + [21_000, 101_000, 999_999]:
        for digit, span in zip(str(n), digit_spans(n)):
            if digit != "0":
                assert span is not None, (n, digit_spans(n))
            elif span is not None:   # only null and the 0 of zehn name a zero
                assert german_number(n)[span[0]:span[1]] in ("null", "zehn"), (n, digit_spans(n))


def test_digit_spans_bad_input():
    for bad in (-1, 1_000_000):
        with pytest.raises(ValueError, match="digit_spans"):
            digit_spans(bad)
    for bad in (3.0, "3", None, True):
        with pytest.raises(TypeError, match="digit_spans"):
            digit_spans(bad)
