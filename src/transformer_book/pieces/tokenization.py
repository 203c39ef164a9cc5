"""Splitting text into tokens: characters, words, and learned subwords (BPE)."""
from __future__ import annotations

import re
from typing import Iterable, Iterator, Sequence

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from transformer_book.common.validation import check_int

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
_WORD = re.compile(r"\w+|[^\w\s]")


def _check_text(text: str) -> None:
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")


def check_special_tokens(special_tokens: Sequence[str]) -> None:
    """Raise unless ``special_tokens`` is a list or tuple of distinct non-empty strings."""
    if not isinstance(special_tokens, (list, tuple)):
        raise TypeError(
            f"special_tokens must be a list or tuple of strings, got {type(special_tokens).__name__} "
            f"{special_tokens!r}"
        )
    for i, token in enumerate(special_tokens):
        if not isinstance(token, str) or not token:
            raise TypeError(f"special_tokens[{i}] must be a non-empty str, got {token!r}")
    if len(set(special_tokens)) != len(special_tokens):
        raise ValueError(f"special_tokens must be distinct, got {list(special_tokens)}")


class CheckedTexts:
    """The training texts, checked as the trainer reads them: each must be a ``str``, and
    ``characters`` counts what was read, so that an empty corpus is refused after the (then
    instant) training."""

    def __init__(self, texts: Iterable[str]):
        if isinstance(texts, (str, bytes)):
            raise TypeError(
                f"texts must be an iterable of strings (a list of lines, say), got a single "
                f"{type(texts).__name__}; wrap it in a list"
            )
        try:
            iter(texts)
        except TypeError:
            raise TypeError(f"texts must be an iterable of strings, got {type(texts).__name__}") from None
        self.texts = texts
        self.characters = 0

    def __iter__(self) -> Iterator[str]:
        for i, text in enumerate(self.texts):
            if not isinstance(text, str):
                raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__} {text!r}")
            self.characters += len(text)
            yield text

    def check_not_empty(self) -> None:
        if self.characters == 0:
            raise ValueError("texts is empty (or holds only empty strings): there is nothing to train on")


def char_tokens(text: str) -> list[str]:
    """Every character is a token (spaces and newlines included). ``text`` must be a ``str``."""
    _check_text(text)
    return list(text)


def word_tokens(text: str) -> list[str]:
    """Words and punctuation marks as tokens; whitespace is dropped. ``text`` must be a ``str``."""
    _check_text(text)
    return _WORD.findall(text)


def train_bpe(
    texts: Iterable[str],
    vocab_size: int,
    special_tokens: Sequence[str] = SPECIAL_TOKENS,
    min_frequency: int = 2,
    individual_digits: bool = False,
) -> Tokenizer:
    """Train a byte-pair-encoding tokenizer with the ``tokenizers`` library.

    Spaces become the visible marker ``▁`` at the start of a word (as in SentencePiece), so the
    pieces are easy to read and ``decode(encode(line))`` gives back a line of ordinary text made of
    characters seen in training. It does not for text with a leading space, newlines, or unseen
    characters (they become ``[UNK]``); chapter 2 shows each case.
    The special tokens get the first ids, in the order given (``[PAD]`` is 0).

    ``individual_digits=True`` splits every digit off as a piece of its own before BPE runs, so
    ``"2024"`` is always the four tokens ``2 0 2 4`` and never merged into ``"20"`` or ``"2024"``
    (what a model that writes numbers digit by digit needs). The default, False, leaves the
    tokenizer exactly as it was without the option.

    Refused: ``texts`` that is a single string (it would train on its characters one by one),
    holds a non-string, or is empty or all empty strings (``ValueError``); special tokens that
    are not a list or tuple of distinct non-empty strings; a ``vocab_size`` with no room beyond
    them; a negative ``min_frequency``; an ``individual_digits`` that is not a bool.
    """
    texts = CheckedTexts(texts)
    check_special_tokens(special_tokens)
    check_int("vocab_size", vocab_size, minimum=None)
    check_int("min_frequency", min_frequency, 0)
    if not isinstance(individual_digits, bool):
        raise TypeError(f"individual_digits must be True or False, got {individual_digits!r}")
    if vocab_size <= len(special_tokens):
        raise ValueError(
            f"vocab_size={vocab_size} leaves no room beyond the {len(special_tokens)} special tokens"
        )
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]" if "[UNK]" in special_tokens else None))
    # Spaces become a word-initial marker, and punctuation is split off into tokens of its own
    # (and, on request, each digit).
    steps = [pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()]
    if individual_digits:
        steps.append(pre_tokenizers.Digits(individual_digits=True))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(steps)
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    texts.check_not_empty()
    return tokenizer
