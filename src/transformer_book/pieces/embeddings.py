"""Token embeddings and positional encodings. Shapes: tokens ``(B, T)``, vectors ``(B, T, D)``."""
from __future__ import annotations

import math

import torch
from torch import nn

from transformer_book.pieces.dropout import Dropout
from transformer_book.common.validation import check_int


class Embeddings(nn.Module):
    """Token ids ``(B, T)`` to vectors ``(B, T, d_model)``, multiplied by ``sqrt(d_model)``.

    The paper scales the embeddings so that, with weights of size about ``1/sqrt(d_model)``,
    they are not drowned by the positional encodings added next (section 3.4). The table is
    initialised to match: entries from ``N(0, 1/d_model)`` (LeCun's rule, the scale of a linear
    layer's weight, which a table tied to the output projection has), so that the scaled vectors
    have entries of size 1, like the sinusoids; ``nn.Embedding``'s own ``N(0, 1)`` would make them
    ``sqrt(d_model)`` times larger. The ``padding_idx`` row starts at zero.
    Ids may have any integer dtype (int8 to int64, uint8); floating-point and boolean ids are
    refused (``TypeError``), and so are ids outside ``[0, vocab_size)`` (``IndexError``, naming
    the range). ``padding_idx`` must be ``None`` or an id in ``[0, vocab_size)`` (no negative
    indexing from the end).
    """

    def __init__(self, vocab_size: int, d_model: int, padding_idx: int | None = None) -> None:
        super().__init__()
        check_int("vocab_size", vocab_size)
        check_int("d_model", d_model)
        if padding_idx is not None and check_int("padding_idx", padding_idx, minimum=0) >= vocab_size:
            raise ValueError(f"padding_idx must be None or an id in [0, {vocab_size}), got {padding_idx}")
        self.lookup = nn.Embedding(vocab_size, d_model, padding_idx=padding_idx)
        with torch.no_grad():   # nn.Embedding drew N(0, 1) (padding row 0): scale to N(0, 1/d_model)
            self.lookup.weight.mul_(d_model ** -0.5)
        self.d_model = d_model
        self.vocab_size = vocab_size

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if not isinstance(tokens, torch.Tensor):
            raise TypeError(f"token ids must be a tensor, got {type(tokens).__name__}")
        if tokens.is_floating_point() or tokens.is_complex() or tokens.dtype == torch.bool:
            raise TypeError(f"token ids must be an integer tensor, got {tokens.dtype}")
        if tokens.dtype not in (torch.int64, torch.int32):
            tokens = tokens.long()                                  # nn.Embedding takes int32/int64 only
        if tokens.numel():
            low, high = torch.stack(torch.aminmax(tokens)).tolist()   # one sync, not two
            if low < 0 or high >= self.vocab_size:
                raise IndexError(
                    f"token ids must lie in [0, {self.vocab_size}), got values from {low} to {high}"
                )
        return self.lookup(tokens) * math.sqrt(self.d_model)      # (B, T, D)


def sinusoidal_table(max_len: int, d_model: int) -> torch.Tensor:
    """The ``(max_len, d_model)`` table of the paper's section 3.5.

        PE[pos, 2i]   = sin(pos / 10000^(2i / d_model))
        PE[pos, 2i+1] = cos(pos / 10000^(2i / d_model))
    """
    check_int("max_len", max_len)
    check_int("d_model", d_model)
    position = torch.arange(max_len, dtype=torch.float32)[:, None]             # (L, 1)
    frequency = torch.exp(
        torch.arange(0, d_model, 2, dtype=torch.float32) * (-math.log(10000.0) / d_model)
    )                                                                           # (ceil(D/2),)
    angle = position * frequency                                                # (L, ceil(D/2))
    table = torch.zeros(max_len, d_model)
    table[:, 0::2] = torch.sin(angle)
    table[:, 1::2] = torch.cos(angle[:, : d_model // 2])
    return table


class _AddPositions(nn.Module):
    """Shared checks: add a ``(T, D)`` slice of positions to ``(B, T, D)`` vectors, then dropout."""

    max_len: int
    d_model: int

    def _check(self, x: torch.Tensor, offset: int) -> int:
        if not isinstance(x, torch.Tensor) or not x.is_floating_point():
            raise TypeError(   # an integer x would round the added positions to integers
                f"expected a floating-point tensor x of vectors, got "
                f"{x.dtype if isinstance(x, torch.Tensor) else type(x).__name__}"
            )
        check_int("offset", offset, minimum=0)
        if x.dim() != 3 or x.shape[-1] != self.d_model:
            raise ValueError(
                f"expected vectors of shape (batch, seq, {self.d_model}), got {tuple(x.shape)}"
            )
        length = x.shape[1]
        if offset + length > self.max_len:
            raise ValueError(
                f"positions {offset}..{offset + length - 1} do not fit in the positional table of "
                f"max_len={self.max_len}; build the module with a larger max_len"
            )
        return length


class PositionalEncoding(_AddPositions):
    """Adds the fixed sinusoidal encodings to ``(B, T, D)`` vectors, then applies dropout.

    ``offset`` shifts the positions, for decoding one token at a time.
    """

    def __init__(self, d_model: int, max_len: int = 5000, dropout: float = 0.0) -> None:
        super().__init__()
        self.d_model, self.max_len = d_model, max_len
        self.dropout = Dropout(dropout)
        # A buffer, not a parameter: it moves with .to(device) but is never trained or saved.
        self.register_buffer("table", sinusoidal_table(max_len, d_model), persistent=False)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        length = self._check(x, offset)
        return self.dropout(x + self.table[offset : offset + length].to(x.dtype))


class LearnedPositionalEncoding(_AddPositions):
    """Adds a trained vector per position (as in BERT and GPT-2), then applies dropout."""

    def __init__(self, d_model: int, max_len: int = 512, dropout: float = 0.0) -> None:
        super().__init__()
        check_int("d_model", d_model)
        check_int("max_len", max_len)
        self.d_model, self.max_len = d_model, max_len
        self.dropout = Dropout(dropout)
        self.table = nn.Embedding(max_len, d_model)

    def forward(self, x: torch.Tensor, offset: int = 0) -> torch.Tensor:
        length = self._check(x, offset)
        return self.dropout(x + self.table.weight[offset : offset + length])
