"""Splitting text into tokens: characters, words, and learned subwords (BPE)."""
from __future__ import annotations

import re
from typing import Iterable, Sequence

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[BOS]", "[EOS]")
_WORD = re.compile(r"\w+|[^\w\s]")


def char_tokens(text: str) -> list[str]:
    """Every character is a token (spaces and newlines included)."""
    return list(text)


def word_tokens(text: str) -> list[str]:
    """Words and punctuation marks as tokens; whitespace is dropped."""
    return _WORD.findall(text)


def train_bpe(
    texts: Iterable[str],
    vocab_size: int,
    special_tokens: Sequence[str] = SPECIAL_TOKENS,
    min_frequency: int = 2,
) -> Tokenizer:
    """Train a byte-pair-encoding tokenizer with the ``tokenizers`` library.

    Spaces become the visible marker ``▁`` at the start of a word (as in SentencePiece), so the
    pieces are easy to read and ``decode(encode(line))`` gives back a line of ordinary text made of
    characters seen in training. It does not for text with a leading space, newlines, or unseen
    characters (they become ``[UNK]``); chapter 2 shows each case.
    The special tokens get the first ids, in the order given (``[PAD]`` is 0).
    """
    if vocab_size <= len(special_tokens):
        raise ValueError(
            f"vocab_size={vocab_size} leaves no room beyond the {len(special_tokens)} special tokens"
        )
    tokenizer = Tokenizer(models.BPE(unk_token="[UNK]" if "[UNK]" in special_tokens else None))
    # Spaces become a word-initial marker, and punctuation is split off into tokens of its own.
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Metaspace(), pre_tokenizers.Punctuation()]
    )
    tokenizer.decoder = decoders.Metaspace()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    return tokenizer
