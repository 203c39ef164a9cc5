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
"""
from __future__ import annotations

import random

_UNITS = ["null", "eins", "zwei", "drei", "vier", "fünf", "sechs", "sieben", "acht", "neun",
          "zehn", "elf", "zwölf", "dreizehn", "vierzehn", "fünfzehn", "sechzehn", "siebzehn",
          "achtzehn", "neunzehn"]
_TENS = {2: "zwanzig", 3: "dreißig", 4: "vierzig", 5: "fünfzig", 6: "sechzig", 7: "siebzig",
         8: "achtzig", 9: "neunzig"}

MAX_NUMBER = 999_999


def _below_hundred(n: int) -> str:
    """1..99 as a word, with 1 as ``eins``."""
    if n < 20:
        return _UNITS[n]
    tens, units = divmod(n, 10)
    if units == 0:
        return _TENS[tens]
    unit = "ein" if units == 1 else _UNITS[units]
    return f"{unit}und{_TENS[tens]}"


def _below_thousand(n: int, leading: bool) -> str:
    """1..999 as a word; ``leading``: this is the start of the number (so 100 is ``hundert``)."""
    hundreds, rest = divmod(n, 100)
    words = ""
    if hundreds:
        count = "" if (hundreds == 1 and leading) else ("ein" if hundreds == 1 else _UNITS[hundreds])
        words = count + "hundert"
    if rest:
        words += _below_hundred(rest)
    return words


def german_number(n: int) -> str:
    """The German word for a whole number 0 <= n <= 999,999, e.g. 2411 -> ``zweitausendvierhundertelf``.

    See the module docstring for the spelling conventions (``eins``/``ein``, ``hundert`` for 100).
    """
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"german_number takes an int, got {type(n).__name__}")
    if not 0 <= n <= MAX_NUMBER:
        raise ValueError(f"german_number covers 0..{MAX_NUMBER}, got {n}")
    if n == 0:
        return "null"
    thousands, rest = divmod(n, 1000)
    words = ""
    if thousands:
        if thousands == 1:
            words = "tausend"
        else:
            count = _below_thousand(thousands, leading=True)
            if count.endswith("eins"):  # 101000 is hunderteintausend, not hunderteinstausend
                count = count[:-1]
            words = count + "tausend"
    if rest:
        words += _below_thousand(rest, leading=not thousands)
    return words


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
