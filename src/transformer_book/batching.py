"""From sentence pairs to padded batches of token ids for the encoder-decoder.

The pipeline is: ``train_tokenizer`` (one shared BPE vocabulary for both languages, trained on
the training pairs only) -> ``encode_pairs`` (source ids + EOS, target BOS ... EOS) ->
``make_batches`` (pairs of similar length grouped together, padded with ``PAD_ID``) ->
``Batch`` (``src``, ``tgt_in``, ``tgt_out``, ``ntokens``), and back with ``decode_ids``.

Shapes are batch-first: ``src`` is (B, S), ``tgt_in`` and ``tgt_out`` are (B, T).
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch
from tokenizers import Tokenizer

from .tokenization import SPECIAL_TOKENS, train_bpe

# The special tokens get the first ids, in the order of tokenization.SPECIAL_TOKENS.
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
assert SPECIAL_TOKENS == ("[PAD]", "[UNK]", "[BOS]", "[EOS]"), "batching assumes this order"

Pair = tuple[str, str]
EncodedPair = tuple[list[int], list[int]]


def _check_tokenizer(tokenizer: Tokenizer) -> None:
    """Raise ``ValueError`` unless the special tokens have the ids this module assumes."""
    for token_id, token in enumerate(SPECIAL_TOKENS):
        found = tokenizer.token_to_id(token)
        if found != token_id:
            raise ValueError(
                f"the tokenizer maps {token!r} to {found}, expected {token_id}; "
                "train it with train_tokenizer (or tokenization.train_bpe with the default special tokens)"
            )


def _check_pairs(pairs: Sequence[Pair]) -> None:
    if len(pairs) == 0:
        raise ValueError("pairs is empty: need at least one (source, target) pair")
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                and isinstance(pair[0], str) and isinstance(pair[1], str)):
            raise TypeError(f"pair {i} is {pair!r}; expected a (source, target) tuple of two strings")


def train_tokenizer(pairs: Sequence[Pair], vocab_size: int, min_frequency: int = 2) -> Tokenizer:
    """One shared BPE tokenizer for both languages, trained on both sides of ``pairs``.

    Pass the TRAINING pairs only, so that nothing about the validation or test sentences leaks
    into the vocabulary. Ids 0-3 are ``[PAD]``, ``[UNK]``, ``[BOS]``, ``[EOS]``.
    """
    _check_pairs(pairs)
    texts = [side for pair in pairs for side in pair]
    tokenizer = train_bpe(texts, vocab_size, min_frequency=min_frequency)
    _check_tokenizer(tokenizer)
    return tokenizer


def encode_pairs(
    tokenizer: Tokenizer, pairs: Sequence[Pair], max_len: int | None = None
) -> list[EncodedPair]:
    """Token ids for each pair: source ``ids + [EOS]``, target ``[BOS] + ids + [EOS]``.

    With ``max_len``, longer sentences are truncated (the end marker is kept) so that the source
    and both shifted targets (``tgt_in``, ``tgt_out``) have at most ``max_len`` positions:
    the source at most ``max_len`` ids, the target at most ``max_len + 1``.
    The result is aligned with ``pairs`` (same length, same order).
    """
    _check_pairs(pairs)
    _check_tokenizer(tokenizer)
    if max_len is not None and max_len < 2:
        raise ValueError(f"max_len={max_len} must be at least 2 (one token and the end marker)")
    keep = None if max_len is None else max_len - 1
    sources = tokenizer.encode_batch([src for src, _ in pairs], add_special_tokens=False)
    targets = tokenizer.encode_batch([tgt for _, tgt in pairs], add_special_tokens=False)
    encoded = []
    for src, tgt in zip(sources, targets):
        encoded.append((src.ids[:keep] + [EOS_ID], [BOS_ID] + tgt.ids[:keep] + [EOS_ID]))
    return encoded


@dataclass
class Batch:
    """One padded batch of sentence pairs.

    - ``src``: (B, S) source ids, each row ``tokens + EOS`` then ``PAD_ID``.
    - ``tgt_in``: (B, T) decoder input, ``BOS + tokens`` then ``PAD_ID`` (teacher forcing).
    - ``tgt_out``: (B, T) what the decoder must predict, ``tokens + EOS`` then ``PAD_ID``:
      ``tgt_out[:, t]`` is the token after ``tgt_in[:, t]``.
    - ``ntokens``: the number of non-pad positions in ``tgt_out`` (what the loss averages over).
    - ``indices``: the position of each row's pair in the list given to ``make_batches``.
    """

    src: torch.Tensor
    tgt_in: torch.Tensor
    tgt_out: torch.Tensor
    ntokens: int
    indices: tuple[int, ...] = field(default=())

    def __len__(self) -> int:
        return self.src.shape[0]

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        """A copy with the tensors on ``device``."""
        return Batch(
            self.src.to(device, non_blocking=non_blocking),
            self.tgt_in.to(device, non_blocking=non_blocking),
            self.tgt_out.to(device, non_blocking=non_blocking),
            self.ntokens,
            self.indices,
        )


def pad_sequences(sequences: Sequence[Sequence[int]], pad_id: int = PAD_ID) -> torch.Tensor:
    """(B, L) LongTensor of the sequences padded on the right to the longest one, L."""
    if len(sequences) == 0:
        raise ValueError("no sequences to pad")
    width = max(len(seq) for seq in sequences)
    out = torch.full((len(sequences), width), pad_id, dtype=torch.long)
    for row, seq in enumerate(sequences):
        out[row, : len(seq)] = torch.as_tensor(list(seq), dtype=torch.long)
    return out


def collate(encoded: Sequence[EncodedPair], indices: Sequence[int] = ()) -> Batch:
    """One ``Batch`` from encoded pairs (source ``... EOS``, target ``BOS ... EOS``)."""
    if len(encoded) == 0:
        raise ValueError("cannot make a batch from no pairs")
    for i, (src, tgt) in enumerate(encoded):
        if len(src) < 1 or len(tgt) < 2:
            raise ValueError(
                f"pair {i} has {len(src)} source and {len(tgt)} target ids; a source needs at least "
                "EOS and a target at least BOS and EOS (use encode_pairs)"
            )
    src = pad_sequences([s for s, _ in encoded])              # (B, S)
    tgt_in = pad_sequences([t[:-1] for _, t in encoded])      # (B, T): BOS + tokens
    tgt_out = pad_sequences([t[1:] for _, t in encoded])      # (B, T): tokens + EOS
    ntokens = int((tgt_out != PAD_ID).sum())
    return Batch(src, tgt_in, tgt_out, ntokens, tuple(indices))


def make_batches(
    encoded: Sequence[EncodedPair], batch_size: int, shuffle: bool = True, seed: int = 0
) -> list[Batch]:
    """Group pairs of similar length into batches of ``batch_size`` pairs (the last may be smaller).

    Pairs are sorted by (target length, source length), so each batch needs little padding, and
    cut into consecutive batches. With ``shuffle``, ties in length are broken in a random order
    and the order of the batches is shuffled, both with ``random.Random(seed)``: the same seed
    gives the same batches. Every pair lands in exactly one batch.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
    if len(encoded) == 0:
        raise ValueError("encoded is empty: no pairs to batch")
    rng = random.Random(seed)
    order = list(range(len(encoded)))
    if shuffle:
        rng.shuffle(order)
    # A stable sort: pairs of equal lengths keep the (shuffled or original) order.
    order.sort(key=lambda i: (len(encoded[i][1]), len(encoded[i][0])))
    chunks = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    if shuffle:
        rng.shuffle(chunks)
    return [collate([encoded[i] for i in chunk], chunk) for chunk in chunks]


def decode_ids(tokenizer: Tokenizer, ids: Iterable[int] | torch.Tensor) -> str:
    """Text for a sequence of ids: stops at the first EOS and skips the special tokens
    (a leading BOS, padding, unknowns)."""
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1:
            raise ValueError(f"decode_ids takes one sequence (1-D), got shape {tuple(ids.shape)}")
        ids = ids.tolist()
    kept = []
    for token_id in ids:
        token_id = int(token_id)
        if token_id == EOS_ID:
            break
        kept.append(token_id)
    return tokenizer.decode(kept, skip_special_tokens=True)
