"""A tiny synthetic translation task: German number words to digits.

``german_number(312)`` is ``"dreihundertzwölf"``; ``number_pairs`` draws many such pairs, e.g.
``("dreihundertzwölf", "312")``. The task is small enough to train a transformer on in seconds, yet
not trivial: German puts the units before the tens (``einundzwanzig`` is 21), so the model must
reorder, and the words are several times longer than the digits.

Spelling, written as one word as German does:

- 1 alone is ``eins``, and so is a final 1 after hundreds or thousands (``hunderteins``,
  ``tausendeins``); before ``und``, ``hundert`` or ``tausend`` it is ``ein`` (``einundzwanzig``).
- The convention for 100 and 1000: a leading "one" is left out at the START of the number only:
  ``hundert`` (100), ``hundertdrei`` (103), ``tausend`` (1000), ``tausendeins`` (1001), but
  ``tausendeinhundert`` (1100) and ``zweitausendeinhundert`` (2100), where ``ein`` says how many
  hundreds. (Both ``hundert`` and ``einhundert`` are correct German; the book picks the shorter.)
- ``sechzehn``, ``siebzehn``, ``sechzig``, ``siebzig`` drop letters; ``dreißig`` has an ß.

``digit_spans(n)`` says which part of the word names each digit (for 23, "zwanzig" the 2 and
"drei" the 3), what chapter 12 compares the cross-attention with.
"""
from __future__ import annotations

import random

_UNITS = ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
          "zehn", "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn",
          "achtzehn", "neunzehn"]
_TENS = {2: "zwanzig", 3: "dreißig", 4: "vierzig", 5: "fünfzig", 6: "sechzig", 7: "siebzig",
         8: "achtzig", 9: "neunzig"}

MAX_NUMBER = 999_999


# A word is built from parts, each with the places of the digits it names (0 units, 1 tens,
# 2 hundreds, 3 thousands, ...): 23 is [("drei", (0,)), ("und", ()), ("zwanzig", (1,))].
Part = tuple[str, tuple[int, ...]]


def _below_hundred(n: int, place: int) -> list[Part]:
    """1..99 as word parts, with 1 as ``eins``; ``place`` is the place of its units digit."""
    if n < 10:
        return [(_UNITS[n], (place,))]
    if n < 20:                     # zehn, elf, zwölf and the teens name both digits
        return [(_UNITS[n], (place + 1, place))]
    tens, units = divmod(n, 10)
    if units == 0:
        return [(_TENS[tens], (place + 1,))]
    unit = "ein" if units == 1 else _UNITS[units]
    return [(unit, (place,)), ("und", ()), (_TENS[tens], (place + 1,))]


def _below_thousand(n: int, leading: bool, place: int) -> list[Part]:
    """1..999 as word parts; ``leading``: this is the start of the number (so 100 is ``hundert``,
    and ``hundert`` names the implied 1)."""
    hundreds, rest = divmod(n, 100)
    parts: list[Part] = []
    if hundreds == 1 and leading:
        parts.append(("hundert", (place + 2,)))
    elif hundreds:
        parts += [("ein" if hundreds == 1 else _UNITS[hundreds], (place + 2,)), ("hundert", ())]
    if rest:
        parts += _below_hundred(rest, place)
    return parts


def _word_parts(n: int) -> list[Part]:
    """The parts of ``german_number(n)`` (joined, they are the word) for 0 <= n <= 999,999."""
    if n == 0:
        return [("null", (0,))]
    thousands, rest = divmod(n, 1000)
    parts: list[Part] = []
    if thousands == 1:
        parts.append(("tausend", (3,)))
    elif thousands:
        parts = _below_thousand(thousands, leading=True, place=3)
        if parts[-1][0] == "eins":   # 101000 is hunderteintausend, not hunderteinstausend
            parts[-1] = ("ein", parts[-1][1])
        parts.append(("tausend", ()))
    if rest:
        parts += _below_thousand(rest, leading=not thousands, place=0)
    return parts


def _check_number(n: int, caller: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"{caller} takes an int, got {type(n).__name__}")
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"{caller} covers 0..{MAX_NUMBER}, got {n}")
    return n


def german_number(n: int) -> str:
    """The German word for a whole number 0 <= n <= 999,999, e.g. 2411 -> ``zweitausendvierhundertelf``.

    See the module docstring for the spelling conventions (``eins``/``ein``, ``hundert`` for 100).
    """
    return "".join(text for text, _ in _word_parts(_check_number(n, "german_number")))


def digit_spans(n: int) -> list[tuple[int, int] | None]:
    """For each character of ``str(n)``, the half-open span ``(start, end)`` of the part of
    ``german_number(n)`` that names that digit, or None where no part names it (a zero digit).

    One entry per digit, in the order of ``str(n)``::

        digit_spans(23)    # "dreiundzwanzig": [(7, 14), (0, 4)]: 2 is "zwanzig", 3 is "drei"
        digit_spans(17)    # "siebzehn": [(0, 8), (0, 8)]: a teen names both its digits
        digit_spans(2024)  # "zweitausendvierundzwanzig": [(0, 4), None, (18, 25), (11, 15)]
        digit_spans(1100)  # "tausendeinhundert": [(0, 7), (7, 10), None, None]

    Conventions: ``zehn``, ``elf``, ``zwölf`` and the teens name both their digits; where a
    leading 1 is left out (``hundert``, ``tausend``), that word names it; otherwise ``hundert``
    and ``tausend`` name nothing (``zweihundert``: "zwei" names the 2), nor does ``und``;
    ``null`` names the 0 of 0. Thousands work like the rest (21000: "ein" names the 1, "zwanzig"
    the 2). ``n`` is checked like ``german_number``'s argument (an int in 0..999,999).
    """
    parts = _word_parts(_check_number(n, "digit_spans"))
    length = len(str(n))
    spans: list[tuple[int, int] | None] = [None] * length
    start = 0
    for text, places in parts:
        for place in places:
            spans[length - 1 - place] = (start, start + len(text))
        start += len(text)
    return spans


def number_pairs(count: int, seed: int = 0, max_value: int = 9999) -> list[tuple[str, str]]:
    """``count`` distinct pairs (German number word, digits) for numbers drawn from 0..max_value.

    The numbers are a random sample without replacement (``random.Random(seed)``), so the same
    seed gives the same pairs, and the first k pairs and the rest share no number: slicing the
    list gives a train and a test set with no overlap. ``count`` 0 gives an empty list.
    ``count``, ``seed`` and ``max_value`` must be ints (not bools, floats or ``None``: a ``None``
    seed would give different pairs on each run).
    """
    for name, value in (("count", count), ("seed", seed), ("max_value", max_value)):
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"{name} must be an integer, got {type(value).__name__} {value!r}")
    if count < 0:
        raise ValueError(f"count must be a non-negative integer, got {count!r}")
    if not 0 <= max_value <= MAX_NUMBER:
        raise ValueError(f"max_value must be an integer in 0..{MAX_NUMBER}, got {max_value!r}")
    if count > max_value + 1:
        raise ValueError(
            f"count={count} distinct numbers cannot be drawn from 0..{max_value}; raise max_value"
        )
    numbers = random.Random(seed).sample(range(max_value + 1), count)
    return [(german_number(n), str(n)) for n in numbers]
