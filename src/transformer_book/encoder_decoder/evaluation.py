"""Scoring translations: corpus BLEU and chrF with sacreBLEU, translating sentences in batches, and
the exact-match rate of a task with one right answer (the number task).

sacreBLEU is used only through its metric classes on strings we pass in; it never downloads a
test set here. Both metrics compare each hypothesis with one reference translation and report a
score from 0 to 100 for the whole corpus (not an average of sentence scores).
"""
from __future__ import annotations

from typing import Sequence

import torch
from sacrebleu.metrics import BLEU, CHRF
from tokenizers import Tokenizer
from torch import nn

from transformer_book.encoder_decoder.batching import (EOS_ID, PAD_ID, check_tokenizer, decode_ids,
    pad_sequences)
from transformer_book.encoder_decoder.decoding import (check_length_penalty, check_model, beam_search,
    greedy_decode, hypotheses, score_hypotheses)
from transformer_book.common.validation import check_int


def _as_texts(name: str, texts: Sequence[str]) -> list[str]:
    """``texts`` as a list, after checking that it is a collection of strings (not one string)."""
    if isinstance(texts, (str, bytes)):
        raise TypeError(f"{name} must be a list of strings, not one string")
    if not hasattr(texts, "__iter__"):
        raise TypeError(f"{name} must be a list of strings, got {type(texts).__name__}")
    texts = list(texts)
    bad = [i for i, text in enumerate(texts) if not isinstance(text, str)]
    if bad:
        raise TypeError(f"{name}[{bad[0]}] is {type(texts[bad[0]]).__name__}, expected str")
    return texts


def _check_tokenizer_type(tokenizer: Tokenizer) -> None:
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(
            f"tokenizer must be a tokenizers.Tokenizer (train_tokenizer makes one), got {type(tokenizer).__name__}"
        )
    check_tokenizer(tokenizer)


def _check_texts(hypotheses: Sequence[str], references: Sequence[str]) -> tuple[list[str], list[str]]:
    hypotheses, references = _as_texts("hypotheses", hypotheses), _as_texts("references", references)
    if len(hypotheses) != len(references):
        raise ValueError(
            f"got {len(hypotheses)} hypotheses but {len(references)} references: one reference per hypothesis"
        )
    if len(hypotheses) == 0:
        raise ValueError("no sentences to score")
    return hypotheses, references


def corpus_scores(hypotheses: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus-level ``{"bleu": ..., "chrf": ...}`` (0-100) of ``hypotheses`` against ``references``.

    BLEU: sacreBLEU's defaults (13a tokenisation, n-grams up to 4, brevity penalty, and its
    ``smooth_method="exp"``, which only matters when some n-gram order has no match at all). chrF: character n-grams up to 6, beta = 2 (recall weighs twice).
    Refused: one string instead of a list, non-string items, lists of different lengths, and
    empty lists (a corpus score of nothing is undefined). Empty strings are scored as they are.
    """
    hypotheses, references = _check_texts(hypotheses, references)
    refs = [list(references)]           # sacreBLEU takes a list of reference *streams*
    bleu = BLEU().corpus_score(list(hypotheses), refs)
    chrf = CHRF().corpus_score(list(hypotheses), refs)
    return {"bleu": float(bleu.score), "chrf": float(chrf.score)}


def encode_sources(tokenizer: Tokenizer, sentences: Sequence[str], pad_id: int = PAD_ID) -> torch.Tensor:
    """Source sentences as a padded ``(B, S)`` LongTensor: each row the tokenizer's ids + EOS (as
    ``batching.encode_pairs`` makes sources), padded on the right with ``pad_id``.

    A sentence that tokenizes to nothing (such as ``""``) becomes ``[EOS]``, which the
    decoders accept. Refused: an empty list, non-string items, a tokenizer whose special tokens do
    not have ``batching``'s ids, and a ``pad_id`` outside the vocabulary or equal to EOS (those
    rows would look like padding)."""
    _check_tokenizer_type(tokenizer)
    sentences = _as_texts("sentences", sentences)
    if len(sentences) == 0:
        raise ValueError("no sentences to encode")
    vocab = tokenizer.get_vocab_size()
    if check_int("pad_id", pad_id, minimum=0) >= vocab or pad_id == EOS_ID:
        raise ValueError(f"pad_id must be a token id in [0, {vocab}) other than EOS_ID={EOS_ID}, got {pad_id!r}")
    encodings = tokenizer.encode_batch(sentences, add_special_tokens=False)
    return pad_sequences([enc.ids + [EOS_ID] for enc in encodings], pad_id=pad_id)


def translate_sentences(
    model: nn.Module,
    tokenizer: Tokenizer,
    sentences: Sequence[str],
    beam_size: int = 1,
    max_len: int | None = None,
    length_penalty: float = 0.6,
    batch_size: int = 64,
    device: torch.device | str | None = None,
    return_scores: bool = False,
) -> list[str] | tuple[list[str], list[float]]:
    """Translate source sentences with greedy decoding (``beam_size=1``) or beam search.

    Each sentence is encoded as ``tokenizer`` ids + EOS (as ``batching.encode_pairs`` does), the
    sentences are sorted by length and decoded ``batch_size`` at a time, and the outputs are turned
    back into text with ``batching.decode_ids``, in the order given. ``max_len`` caps the generated
    tokens; by default it is the batch's longest source plus half of it plus 10. ``device``: by
    default the model's. ``return_scores=True`` also returns each output's length-penalised
    log-probability under the model (the quantity beam search maximises, with the same
    ``length_penalty``; for greedy outputs computed by ``decoding.score_hypotheses``).

    Every argument is checked before anything is translated (``beam_size``, ``batch_size`` and
    ``max_len`` are ``int`` >= 1, not bools; ``length_penalty`` >= 0 even for greedy decoding;
    ``device`` a valid name). No sentences give an empty result (``[]``, or ``([], [])``); an
    empty sentence is translated from ``[EOS]`` alone.
    """
    check_model(model)
    _check_tokenizer_type(tokenizer)
    sentences = _as_texts("sentences", sentences)
    check_int("beam_size", beam_size)
    check_int("batch_size", batch_size)
    if max_len is not None:
        check_int("max_len", max_len)
    check_length_penalty(length_penalty)
    if device is not None:
        try:
            device = torch.device(device)
        except (RuntimeError, TypeError) as error:
            raise ValueError(f"device must be a device name such as 'cpu' or 'cuda', got {device!r}: {error}") from None
    if len(sentences) == 0:
        return ([], []) if return_scores else []
    device = next(model.parameters()).device if device is None else device
    lengths = [len(enc.ids) for enc in tokenizer.encode_batch(sentences, add_special_tokens=False)]
    order = sorted(range(len(sentences)), key=lambda i: lengths[i])
    outputs: list[str] = [""] * len(sentences)
    scores: list[float] = [0.0] * len(sentences)
    for start in range(0, len(order), batch_size):
        chunk = order[start : start + batch_size]
        src = encode_sources(tokenizer, [sentences[i] for i in chunk], model.pad_id).to(device)  # (B, S)
        limit = max_len if max_len is not None else src.shape[1] + src.shape[1] // 2 + 10
        if beam_size == 1:
            hyps = hypotheses(greedy_decode(model, src, limit).cpu())
            if return_scores:
                chunk_scores = score_hypotheses(model, src, hyps, limit, length_penalty)[1].tolist()
        else:
            hyps, chunk_scores = beam_search(model, src, beam_size, limit, length_penalty, return_scores=True)
        for j, (i, hyp) in enumerate(zip(chunk, hyps)):
            outputs[i] = decode_ids(tokenizer, hyp)
            if return_scores:
                scores[i] = chunk_scores[j]
    return (outputs, scores) if return_scores else outputs


def exact_match(
    model: nn.Module,
    tokenizer: Tokenizer,
    pairs: Sequence[tuple[str, str]],
    beam_size: int = 1,
    max_len: int | None = None,
) -> float:
    """The fraction of ``(source, reference)`` pairs whose translation (``translate_sentences``
    with ``beam_size`` and ``max_len``) is exactly the reference string."""
    pairs = list(pairs)
    if len(pairs) == 0:
        raise ValueError("exact_match needs at least one (source, reference) pair")
    if not all(isinstance(pair, tuple) and len(pair) == 2 for pair in pairs):
        raise TypeError("pairs must be (source, reference) tuples")
    references = _as_texts("references", [reference for _, reference in pairs])
    outputs = translate_sentences(model, tokenizer, [source for source, _ in pairs], beam_size=beam_size, max_len=max_len)
    return sum(output == reference for output, reference in zip(outputs, references)) / len(pairs)
