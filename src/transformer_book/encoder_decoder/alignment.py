"""Which source piece does each output token attend to? Cross-attention measured against a known
alignment.

A translation whose alignment is known (for the number task, ``data.numbers.digit_spans`` says
that the "2" of "23" comes from "zwanzig" in "dreiundzwanzig") lets us score each head of each
decoder layer: run the model with teacher forcing on the correct target, take for every target
token the source position that a head's cross-attention weighs most, and count how often that
source token overlaps the part of the source that the token translates.

- ``token_spans(tokenizer, text)``: the character span of each token in ``text``;
- ``alignment_hits(...)``: for each scored target token, hit or miss in every layer and head;
- ``alignment_accuracy(...)``: their mean, ``(layers, heads)`` fractions in [0, 1].

Two conventions for the query: ``"predicts"``, the decoder position whose output predicts the
token (position ``t`` predicts ``tgt_out[t]``, with ``tgt_in[t]`` the token before it), and
``"input"``, the position where the token is the decoder's input (``tgt_in[t + 1]``).
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from tokenizers import Tokenizer
from torch import nn

from transformer_book.common.validation import check_int
from transformer_book.encoder_decoder.batching import BOS_ID, check_tokenizer, pad_sequences
from transformer_book.encoder_decoder.decoding import attention_maps, check_model
from transformer_book.encoder_decoder.evaluation import encode_sources

Span = tuple[int, int]
SpansOf = Callable[[str, str], Sequence["Span | None"]]
QUERIES = ("predicts", "input")
_MARKER = "▁"   # the Metaspace marker of tokenization.train_bpe


def token_spans(tokenizer: Tokenizer, text: str) -> list[Span | None]:
    """The half-open character span in ``text`` of each token of
    ``tokenizer.encode(text, add_special_tokens=False)`` (the ids that ``encode_sources`` and
    ``encode_pairs`` use), or None for a token that holds no character of ``text``.

    Spans leave out the spaces that a word-initial ``▁`` stands for, so with the number task's
    tokenizer ``token_spans(tok, "dreiundzwanzig")`` might be ``[(0, 4), (4, 14)]`` for
    ``▁drei undzwanzig``, and ``token_spans(tok, "23")`` is ``[None, (0, 1), (1, 2)]``: the lone
    ``▁`` that the Metaspace pre-tokenizer puts before the digits (the tokenizer reports it at
    (0, 1), the character it precedes) covers nothing.
    """
    check_tokenizer(tokenizer)
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    encoding = tokenizer.encode(text, add_special_tokens=False)
    spans: list[Span | None] = []
    for token, (start, end) in zip(encoding.tokens, encoding.offsets):
        while start < end and text[start].isspace():
            start += 1
        spans.append((start, end) if token.strip(_MARKER) and start < end else None)
    return spans


def _check_pairs(pairs: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    if isinstance(pairs, (str, bytes)) or not isinstance(pairs, Sequence):
        raise TypeError(f"pairs must be a list of (source, target) string pairs, got {type(pairs).__name__}")
    if len(pairs) == 0:
        raise ValueError("pairs is empty: nothing to measure")
    for i, pair in enumerate(pairs):
        if not (isinstance(pair, (tuple, list)) and len(pair) == 2 and all(isinstance(s, str) for s in pair)):
            raise TypeError(f"pairs[{i}] is {pair!r}; expected a (source, target) pair of strings")
    return [tuple(pair) for pair in pairs]


def _gold_spans(spans_of: SpansOf, source: str, target: str, index: int) -> list[Span | None]:
    """``spans_of(source, target)``, checked: one entry per character of ``target``, each None or a
    span ``(start, end)`` with ``0 <= start < end <= len(source)``."""
    gold = spans_of(source, target)
    if isinstance(gold, (str, bytes)) or not isinstance(gold, Sequence) or len(gold) != len(target):
        raise ValueError(
            f"spans_of must return one span or None per character of the target ({len(target)} for "
            f"{target!r} in pairs[{index}]), got {gold!r}"
        )
    for span in gold:
        if span is None:
            continue
        if not (isinstance(span, (tuple, list)) and len(span) == 2
                and all(isinstance(x, int) and not isinstance(x, bool) for x in span)
                and 0 <= span[0] < span[1] <= len(source)):
            raise ValueError(
                f"spans_of gave {span!r} for pairs[{index}]; a span must be (start, end) with "
                f"0 <= start < end <= {len(source)} (the length of {source!r})"
            )
    return [None if span is None else (span[0], span[1]) for span in gold]


def _targets(tokenizer: Tokenizer, pairs: list[tuple[str, str]], spans_of: SpansOf):
    """For each pair: its target ids and, per target token, the set of gold source spans of its
    characters (empty: the token is not scored)."""
    out = []
    for index, (source, target) in enumerate(pairs):
        gold = _gold_spans(spans_of, source, target, index)
        ids = tokenizer.encode(target, add_special_tokens=False).ids
        wanted = [set() if span is None else {gold[c] for c in range(*span) if gold[c] is not None}
                  for span in token_spans(tokenizer, target)]
        out.append((ids, wanted))
    return out


def _overlaps(span: Span | None, gold: set[Span]) -> bool:
    return span is not None and any(span[0] < end and start < span[1] for start, end in gold)


def _peaks(model: nn.Module, tokenizer: Tokenizer, sources: list[str], target_ids: list[list[int]],
           average_heads: bool) -> torch.Tensor:
    """``(B, L, H, T)``: the source position that each head's cross-attention weighs most, for
    each decoder position of ``BOS + target_ids`` (teacher forcing), on the CPU."""
    device = next(model.parameters()).device
    src = encode_sources(tokenizer, sources, model.pad_id).to(device)                   # (B, S)
    tgt_in = pad_sequences([[BOS_ID] + ids for ids in target_ids], model.pad_id).to(device)  # (B, T)
    with torch.no_grad():
        cross = torch.stack(attention_maps(model, src, tgt_in).cross, dim=1)   # (B, L, H, T, S)
    if average_heads:
        cross = cross.mean(dim=2, keepdim=True)                                 # (B, L, 1, T, S)
    return cross.argmax(dim=-1).cpu()


def alignment_hits(
    model: nn.Module,
    tokenizer: Tokenizer,
    pairs: Sequence[tuple[str, str]],
    spans_of: SpansOf,
    query: str = "predicts",
    average_heads: bool = False,
    batch_size: int = 128,
) -> torch.Tensor:
    """A bool tensor ``(M, L, H)``: for each of the ``M`` scored target tokens of ``pairs`` (in
    order), whether the cross-attention of each of the ``L`` decoder layers and ``H`` heads peaks
    on a source token that overlaps the token's gold source span (with ``average_heads``, ``H`` is
    1: the attention averaged over the heads).

    ``pairs``: (source, target) strings. ``spans_of(source, target)``: for each character of
    ``target``, the span ``(start, end)`` of ``source`` that it translates, or None (for the
    number task, ``lambda src, tgt: digit_spans(int(tgt))``). A target token is scored when one of
    its characters has a span; it is a hit when the source token at the argmax of the attention
    (over all source positions, EOS included, which overlaps nothing) overlaps any of them.
    ``query``: ``"predicts"`` or ``"input"`` (see the module docstring). The model runs with
    teacher forcing on the correct targets, ``batch_size`` pairs at a time, in evaluation mode.
    """
    check_model(model)
    check_tokenizer(tokenizer)
    pairs = _check_pairs(pairs)
    if not callable(spans_of):
        raise TypeError(f"spans_of must be a function (source, target) -> spans, got {type(spans_of).__name__}")
    if query not in QUERIES:
        raise ValueError(f"query must be one of {QUERIES}, got {query!r}")
    if not isinstance(average_heads, bool):
        raise TypeError(f"average_heads must be True or False, got {average_heads!r}")
    check_int("batch_size", batch_size)
    targets = _targets(tokenizer, pairs, spans_of)
    shift = 0 if query == "predicts" else 1
    hits = []
    for start in range(0, len(pairs), batch_size):
        chunk = range(start, min(start + batch_size, len(pairs)))
        peaks = _peaks(model, tokenizer, [pairs[i][0] for i in chunk], [targets[i][0] for i in chunk],
                       average_heads)                                           # (B, L, H, T)
        for row, i in enumerate(chunk):
            source_spans = token_spans(tokenizer, pairs[i][0]) + [None]         # EOS covers nothing
            for position, gold in enumerate(targets[i][1]):
                if gold:
                    peak = peaks[row, :, :, position + shift].tolist()           # (L, H)
                    hits.append(torch.tensor([[s < len(source_spans) and _overlaps(source_spans[s], gold)
                                               for s in heads] for heads in peak]))
    if not hits:
        raise ValueError("no target token of pairs has a gold span: nothing to score (check spans_of)")
    return torch.stack(hits)


def alignment_accuracy(
    model: nn.Module,
    tokenizer: Tokenizer,
    pairs: Sequence[tuple[str, str]],
    spans_of: SpansOf,
    query: str = "predicts",
    average_heads: bool = False,
    batch_size: int = 128,
) -> torch.Tensor:
    """``(L, H)`` float tensor: for each decoder layer and head, the fraction of scored target
    tokens whose cross-attention peaks on the right source piece (``H`` is 1 with
    ``average_heads``). The arguments are those of ``alignment_hits``, which says what counts."""
    hits = alignment_hits(model, tokenizer, pairs, spans_of, query, average_heads, batch_size)
    return hits.float().mean(dim=0)
