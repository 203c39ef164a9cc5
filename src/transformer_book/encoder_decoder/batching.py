"""From sentence pairs to padded batches of token ids for the encoder-decoder.

The pipeline is: ``train_tokenizer`` (one shared BPE vocabulary for both languages, trained on
the training pairs only) -> ``encode_pairs`` (source ids + EOS, target BOS ... EOS) ->
``make_batches`` (pairs of similar length grouped together, padded with ``PAD_ID``) ->
``Batch`` (``src``, ``tgt_in``, ``tgt_out``, ``ntokens``), and back with ``decode_ids``.

Shapes are batch-first: ``src`` is (B, S), ``tgt_in`` and ``tgt_out`` are (B, T).
"""
from __future__ import annotations

import operator
import random
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import torch
from tokenizers import Tokenizer

from transformer_book.pieces.tokenization import SPECIAL_TOKENS, train_bpe
from transformer_book.common.validation import check_int

# The special tokens get the first ids, in the order of tokenization.SPECIAL_TOKENS.
PAD_ID, UNK_ID, BOS_ID, EOS_ID = 0, 1, 2, 3
assert SPECIAL_TOKENS == ("[PAD]", "[UNK]", "[BOS]", "[EOS]"), "batching assumes this order"

Pair = tuple[str, str]
EncodedPair = tuple[list[int], list[int]]


def check_tokenizer(tokenizer: Tokenizer) -> None:
    """Raise ``ValueError`` unless the special tokens have the ids this module assumes."""
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"tokenizer must be a tokenizers.Tokenizer, got {type(tokenizer).__name__}")
    for token_id, token in enumerate(SPECIAL_TOKENS):
        found = tokenizer.token_to_id(token)
        if found != token_id:
            raise ValueError(
                f"the tokenizer maps {token!r} to {found}, expected {token_id}; "
                "train it with train_tokenizer (or tokenization.train_bpe with the default special tokens)"
            )


def _check_pairs(pairs: Sequence[Pair]) -> None:
    if not isinstance(pairs, (list, tuple)):
        raise TypeError(f"pairs must be a list or tuple of (source, target) pairs, got {type(pairs).__name__}")
    if len(pairs) == 0:
        raise ValueError("pairs is empty: need at least one (source, target) pair")
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                and isinstance(pair[0], str) and isinstance(pair[1], str)):
            raise TypeError(f"pair {i} is {pair!r}; expected a (source, target) tuple of two strings")


def _check_encoded(encoded: Sequence[EncodedPair], name: str = "encoded") -> None:
    """Raise unless ``encoded`` is a non-empty list of (source ids, target ids) with a source of at
    least EOS and a target of at least BOS and EOS."""
    if not isinstance(encoded, (list, tuple)):
        raise TypeError(f"{name} must be a list of (source ids, target ids) pairs, got {type(encoded).__name__}")
    if len(encoded) == 0:
        raise ValueError(f"{name} is empty: no pairs to batch")
    for i, pair in enumerate(encoded):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2
                and all(isinstance(side, (list, tuple, torch.Tensor)) for side in pair)):
            raise TypeError(f"{name}[{i}] is {pair!r}; expected a (source ids, target ids) pair of lists (use encode_pairs)")
        src, tgt = pair
        if len(src) < 1 or len(tgt) < 2:
            raise ValueError(
                f"{name}[{i}] has {len(src)} source and {len(tgt)} target ids; a source needs at least "
                "EOS and a target at least BOS and EOS (use encode_pairs)"
            )


def train_tokenizer(
    pairs: Sequence[Pair], vocab_size: int, min_frequency: int = 2, individual_digits: bool = False
) -> Tokenizer:
    """One shared BPE tokenizer for both languages, trained on both sides of ``pairs``.

    Pass the TRAINING pairs only, so that nothing about the validation or test sentences leaks
    into the vocabulary. Ids 0-3 are ``[PAD]``, ``[UNK]``, ``[BOS]``, ``[EOS]``.
    ``pairs`` must be a non-empty list or tuple of (str, str) pairs. ``individual_digits=True``
    makes every digit a token of its own (``"23"`` is ``2 3``; see ``tokenization.train_bpe``),
    as the number task needs.
    """
    _check_pairs(pairs)
    texts = [side for pair in pairs for side in pair]
    tokenizer = train_bpe(texts, vocab_size, min_frequency=min_frequency, individual_digits=individual_digits)
    check_tokenizer(tokenizer)
    return tokenizer


def encode_pairs(
    tokenizer: Tokenizer, pairs: Sequence[Pair], max_len: int | None = None
) -> list[EncodedPair]:
    """Token ids for each pair: source ``ids + [EOS]``, target ``[BOS] + ids + [EOS]``.

    With ``max_len``, longer sentences are truncated (the end marker is kept) so that the source
    and both shifted targets (``tgt_in``, ``tgt_out``) have at most ``max_len`` positions:
    the source at most ``max_len`` ids, the target at most ``max_len + 1``.
    The result is aligned with ``pairs`` (same length, same order). An empty sentence gives just
    its markers (``[EOS]``, ``[BOS, EOS]``).
    """
    _check_pairs(pairs)
    check_tokenizer(tokenizer)
    if max_len is not None:
        check_int("max_len", max_len, 2)   # one token and the end marker
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

    def __post_init__(self) -> None:
        for name in ("src", "tgt_in", "tgt_out"):
            value = getattr(self, name)
            if not isinstance(value, torch.Tensor) or value.dim() != 2:
                shape = tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__
                raise ValueError(f"Batch.{name} must be a 2-D tensor (B, L), got {shape}")
            if value.dtype.is_floating_point or value.dtype.is_complex or value.dtype == torch.bool:
                raise TypeError(f"Batch.{name} must hold integer token ids, got {value.dtype}")
        if self.tgt_in.shape != self.tgt_out.shape or self.src.shape[0] != self.tgt_in.shape[0]:
            raise ValueError(
                f"Batch shapes disagree: src {tuple(self.src.shape)}, tgt_in {tuple(self.tgt_in.shape)}, "
                f"tgt_out {tuple(self.tgt_out.shape)} (need the same B, and tgt_in and tgt_out alike)"
            )

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "Batch":
        """A copy with the tensors on ``device`` (a ``torch.device``, a name such as ``"cuda"``,
        or a CUDA index; anything else, a dtype say, is refused)."""
        if isinstance(device, bool) or not isinstance(device, (torch.device, str, int)):
            raise TypeError(f"device must be a torch.device, a str or an int, got {type(device).__name__} {device!r}")
        return Batch(
            self.src.to(device, non_blocking=non_blocking),
            self.tgt_in.to(device, non_blocking=non_blocking),
            self.tgt_out.to(device, non_blocking=non_blocking),
            self.ntokens,
            self.indices,
        )


def _as_ids(seq: Sequence[int] | torch.Tensor, what: str) -> torch.Tensor:
    """One sequence of integer ids as a 1-D LongTensor; floats, bools and anything nested refused."""
    if isinstance(seq, torch.Tensor):
        ids = seq
    elif isinstance(seq, (list, tuple, range)):
        try:
            ids = torch.as_tensor(seq) if len(seq) else torch.zeros(0, dtype=torch.long)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"{what} must be a list of integer ids, got {seq!r} ({error})") from None
    else:
        raise TypeError(f"{what} must be a list or 1-D tensor of integer ids, got {type(seq).__name__}")
    if ids.dim() != 1:
        raise ValueError(f"{what} must be one sequence of ids (1-D), got shape {tuple(ids.shape)}")
    if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
        raise TypeError(f"{what} must hold integer ids, got {ids.dtype}")
    return ids.to(torch.long)


def _pad(sequences: Sequence[Sequence[int]], pad_id: int, what: str) -> torch.Tensor:
    rows = [_as_ids(seq, what.format(row)) for row, seq in enumerate(sequences)]
    out = torch.full((len(rows), max(len(ids) for ids in rows)), pad_id, dtype=torch.long)
    for row, ids in enumerate(rows):
        out[row, : len(ids)] = ids
    return out


def pad_sequences(sequences: Sequence[Sequence[int]], pad_id: int = PAD_ID) -> torch.Tensor:
    """(B, L) LongTensor of the sequences padded on the right to the longest one, L.

    Each sequence is a list, tuple or 1-D tensor of integer ids (any integer dtype; floats and
    bools are refused); an empty sequence is a row of padding. ``pad_id`` may be any integer,
    negative included (``-100`` for ignored labels).
    """
    if isinstance(sequences, torch.Tensor) and sequences.dim() == 2:
        sequences = list(sequences)
    if not isinstance(sequences, (list, tuple)):
        raise TypeError(f"sequences must be a list of id sequences, got {type(sequences).__name__}")
    if len(sequences) == 0:
        raise ValueError("sequences is empty: no sequences to pad")
    check_int("pad_id", pad_id, minimum=None)
    return _pad(sequences, pad_id, "sequences[{}]")


def collate(encoded: Sequence[EncodedPair], indices: Sequence[int] = ()) -> Batch:
    """One ``Batch`` from encoded pairs (source ``... EOS``, target ``BOS ... EOS``).

    ``indices`` (optional) gives each pair's position in a larger list, one per pair.
    """
    _check_encoded(encoded)
    if not isinstance(indices, (list, tuple, range)):
        raise TypeError(f"indices must be a list of ints, got {type(indices).__name__} {indices!r}")
    indices = tuple(indices)
    if indices and len(indices) != len(encoded):
        raise ValueError(f"indices must give one index per pair ({len(encoded)}), got {len(indices)}")
    src = _pad([s for s, _ in encoded], PAD_ID, "the source of encoded[{}]")           # (B, S)
    tgt_in = _pad([t[:-1] for _, t in encoded], PAD_ID, "the target of encoded[{}]")   # (B, T): BOS + tokens
    tgt_out = _pad([t[1:] for _, t in encoded], PAD_ID, "the target of encoded[{}]")   # (B, T): tokens + EOS
    ntokens = int((tgt_out != PAD_ID).sum())
    return Batch(src, tgt_in, tgt_out, ntokens, indices)


def make_batches(
    encoded: Sequence[EncodedPair], batch_size: int, shuffle: bool = True, seed: int = 0
) -> list[Batch]:
    """Group pairs of similar length into batches of ``batch_size`` pairs (the last may be smaller).

    Pairs are sorted by (target length, source length), so each batch needs little padding, and
    cut into consecutive batches. With ``shuffle``, ties in length are broken in a random order
    and the order of the batches is shuffled, both with ``random.Random(seed)``: the same seed
    gives the same batches. Every pair lands in exactly one batch.
    ``batch_size`` and ``seed`` must be integers (not bools) and ``shuffle`` a bool.
    """
    check_int("batch_size", batch_size, 1)
    check_int("seed", seed, minimum=None)
    if not isinstance(shuffle, bool):
        raise TypeError(f"shuffle must be True or False, got {shuffle!r}")
    _check_encoded(encoded)
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
    (a leading BOS, padding, unknowns).

    ``ids`` is a list of ints or a 1-D tensor of any integer dtype. Refused: floats, bools and
    strings (``TypeError``), and ids before the first EOS outside ``0..vocab_size - 1``
    (``ValueError``; the tokenizer would silently drop them).
    """
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"tokenizer must be a tokenizers.Tokenizer, got {type(tokenizer).__name__}")
    if isinstance(ids, torch.Tensor):
        if ids.dim() != 1:
            raise ValueError(f"decode_ids takes one sequence (1-D), got shape {tuple(ids.shape)}")
        if ids.dtype.is_floating_point or ids.dtype.is_complex or ids.dtype == torch.bool:
            raise TypeError(f"ids must be integer token ids, got a tensor of {ids.dtype}")
        ids = ids.tolist()
    elif isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"ids must be a list or 1-D tensor of token ids, got {type(ids).__name__}")
    kept = []
    for token_id in ids:
        if isinstance(token_id, bool) or not hasattr(token_id, "__index__"):
            raise TypeError(f"ids must be integer token ids, got {type(token_id).__name__} {token_id!r}")
        token_id = operator.index(token_id)
        if token_id == EOS_ID:
            break
        kept.append(token_id)
    if kept and (min(kept) < 0 or max(kept) >= tokenizer.get_vocab_size()):
        bad = next(i for i in kept if not 0 <= i < tokenizer.get_vocab_size())
        raise ValueError(f"ids must be in 0..{tokenizer.get_vocab_size() - 1} (the vocabulary), got {bad}")
    return tokenizer.decode(kept, skip_special_tokens=True)
