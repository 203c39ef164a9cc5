import pytest

from transformer_book.data.numbers import german_number, number_pairs

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
