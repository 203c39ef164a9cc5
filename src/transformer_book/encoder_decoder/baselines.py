"""Translations that need no model, to put a model's scores on a scale.

- copying: the German sentence itself (it scores above zero from names, numbers and shared words);
- ``retrieval_baseline``: the English of the training pair whose German is closest to the sentence
  to translate, by sentence-level chrF (sacreBLEU's), as a translation memory would do.

An exact search would score every training sentence against every test sentence: about 10^7
sentence-level chrF computations for the Ding data. ``retrieval_baseline`` first ranks the
training sentences by how many distinct character n-grams (n = 1 to 6, spaces removed, as chrF
counts them) they share with the sentence, and computes the exact chrF for the best
``candidates`` of them only.
"""
from __future__ import annotations

import warnings
from typing import Sequence

import sacrebleu
import torch

from transformer_book.common.validation import check_int

CHRF_ORDER = 6   # sacreBLEU's chrF counts character n-grams up to 6


def char_ngrams(text: str, order: int = CHRF_ORDER) -> set[str]:
    """The distinct character n-grams of ``text`` for n = 1 .. ``order``, whitespace removed."""
    check_int("order", order)
    chars = "".join(text.split())
    return {chars[i : i + n] for n in range(1, order + 1) for i in range(len(chars) - n + 1)}


def _ngram_matrix(sets: Sequence[set[str]], index: dict[str, int]) -> torch.Tensor:
    """A sparse ``(len(sets), len(index))`` 0/1 matrix: row ``i`` marks the n-grams of ``sets[i]``
    that ``index`` knows."""
    rows, cols = [], []
    for row, grams in enumerate(sets):
        ids = [index[g] for g in grams if g in index]
        rows += [row] * len(ids)
        cols += ids
    values = torch.ones(len(rows))
    return torch.sparse_coo_tensor(torch.tensor([rows, cols], dtype=torch.long).reshape(2, -1), values,
                                   (len(sets), len(index)), check_invariants=True).coalesce()


def shared_ngrams(queries: Sequence[str], corpus: Sequence[str]) -> torch.Tensor:
    """``(len(queries), len(corpus))``: how many distinct character n-grams each pair shares."""
    corpus_sets = [char_ngrams(text) for text in corpus]
    index: dict[str, int] = {}
    for grams in corpus_sets:
        for gram in grams:
            index.setdefault(gram, len(index))
    corpus_matrix = _ngram_matrix(corpus_sets, index)                          # (N, G)
    query_matrix = _ngram_matrix([char_ngrams(text) for text in queries], index)   # (Q, G)
    with warnings.catch_warnings():   # torch calls its sparse CSR support, used inside, beta
        warnings.filterwarnings("ignore", message="Sparse CSR tensor support is in beta")
        return torch.sparse.mm(query_matrix, corpus_matrix.t()).to_dense()     # (Q, N)


def retrieval_baseline(
    train_pairs: Sequence[tuple[str, str]], sources: Sequence[str], candidates: int = 20
) -> list[str]:
    """For each sentence of ``sources``, the target side of the training pair whose source side has
    the highest sentence chrF against it (the source sentence as the reference), among the
    ``candidates`` training pairs that share the most character n-grams with it; ties go to the
    earlier pair. ``candidates >= len(train_pairs)`` makes the search exact."""
    if isinstance(train_pairs, str) or not train_pairs or not all(
            isinstance(p, (tuple, list)) and len(p) == 2 and all(isinstance(s, str) for s in p) for p in train_pairs):
        raise TypeError("train_pairs must be a non-empty list of (source, target) string pairs")
    if isinstance(sources, str) or not all(isinstance(s, str) for s in sources):
        raise TypeError("sources must be a list of strings, not a single string")
    check_int("candidates", candidates)
    if not sources:
        return []
    train_sources = [src for src, _ in train_pairs]
    shared = shared_ngrams(sources, train_sources)                             # (Q, N)
    k = min(candidates, len(train_sources))
    shortlist = shared.topk(k, dim=1).indices.tolist()                         # (Q, k)
    chosen = []
    for sentence, rows in zip(sources, shortlist):
        scores = {row: sacrebleu.sentence_chrf(train_sources[row], [sentence]).score for row in rows}
        chosen.append(max(sorted(scores), key=lambda row: scores[row]))          # the earliest of the best
    return [train_pairs[row][1] for row in chosen]
