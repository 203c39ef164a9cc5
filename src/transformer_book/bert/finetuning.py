"""Fine-tuning BERT to classify texts, and measuring its accuracy.

Texts are encoded once (``encode_texts``); training visits batches of similar length in a new
order each epoch and minimises the cross-entropy of ``BertForSequenceClassification``'s logits
``(B, C)`` with AdamW (``bert_pretraining.train_steps``).
"""
from __future__ import annotations

import numbers
import random
from typing import Sequence

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from transformer_book.bert.model import BertForSequenceClassification, check_number_where
from transformer_book.common.validation import check_int
from transformer_book.bert.pretraining import TrainLog, collate_ids, length_batches, train_steps


def encode_texts(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Each text as ``[CLS] pieces [SEP]`` ids (truncated as the tokenizer is configured).

    No texts give ``[]``; a single string (not a list of them) is refused, as are non-strings.
    """
    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"tokenizer must be a tokenizers.Tokenizer, got {type(tokenizer).__name__}")
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be a list of strings, got a single string")
    texts = list(texts)
    wrong = [i for i, text in enumerate(texts) if not isinstance(text, str)]
    if wrong:
        raise TypeError(f"texts must be strings, got {type(texts[wrong[0]]).__name__} at texts[{wrong[0]}]")
    return [encoding.ids for encoding in tokenizer.encode_batch(list(texts))]


def _check(model, ids: Sequence[Sequence[int]], labels: Sequence[int] | None = None) -> list[int] | None:
    """The shared checks, once per call (not per batch): a classifier; a non-empty list of
    non-empty id lists that fit the model's vocabulary and positions; one integer label per text.
    Returns the labels as a list."""
    if not isinstance(model, BertForSequenceClassification):
        raise TypeError(f"model must be a BertForSequenceClassification, got {type(model).__name__}")
    if isinstance(ids, (str, bytes)) or not hasattr(ids, "__len__") or len(ids) == 0:
        raise ValueError(f"ids must be a non-empty list of encoded texts (id lists), got {ids!r}")
    empty = [i for i, x in enumerate(ids) if len(x) == 0]
    if empty:
        raise ValueError(f"ids[{empty[0]}] is an empty text: every text needs at least one token")
    low, high, vocab = min(min(x) for x in ids), max(max(x) for x in ids), model.config.vocab_size
    if low < 0 or high >= vocab:
        raise ValueError(f"ids must lie in [0, vocab_size={vocab}), got {low}..{high}")
    longest, limit = max(len(x) for x in ids), model.config.max_position_embeddings
    if longest > limit:
        raise ValueError(f"ids holds a text of {longest} tokens, more than max_position_embeddings={limit}")
    if labels is None:
        return None
    labels = labels.tolist() if isinstance(labels, torch.Tensor) else labels
    if not hasattr(labels, "__len__") or len(labels) != len(ids):
        count = len(labels) if hasattr(labels, "__len__") else repr(labels)
        raise ValueError(f"labels must give one label per text: {len(ids)} texts but {count} labels")
    wrong = [y for y in labels if not isinstance(y, numbers.Integral) or isinstance(y, bool)
             or not 0 <= y < model.num_labels]
    if wrong:
        raise ValueError(f"labels must be integers in [0, {model.num_labels}), got {wrong[0]!r}")
    return [int(y) for y in labels]


def finetune_classifier(
    model: BertForSequenceClassification,
    ids: Sequence[Sequence[int]],
    labels: Sequence[int],
    epochs: int,
    batch_size: int = 32,
    lr: float = 1e-4,
    seed: int = 0,
    progress: bool = True,
    desc: str = "fine-tuning",
) -> TrainLog:
    """Train every weight of ``model`` on ``(ids, labels)`` for ``epochs`` epochs; returns the log.

    Refused before any update: no texts, an empty text, labels that are not integers in
    ``[0, num_labels)`` (bools too) or not one per text, ``epochs`` or ``batch_size`` below 1,
    ``lr`` not positive.
    """
    labels = _check(model, ids, labels)
    check_int("epochs", epochs)
    check_int("batch_size", batch_size)
    check_number_where("lr", lr, "positive and finite", lambda v: 0 < v < float("inf"))
    check_int("seed", seed, minimum=0)
    schedule = [batch for epoch in range(epochs)
                for batch in length_batches([len(x) for x in ids], batch_size, seed=seed * 1000 + epoch)]
    target = torch.tensor(labels)

    def loss_of_batch(step: int) -> torch.Tensor:
        rows = schedule[step]
        input_ids, attention_mask = collate_ids([ids[i] for i in rows], model.config.pad_token_id)
        return F.cross_entropy(model(input_ids, attention_mask=attention_mask), target[rows])

    random.seed(seed)
    torch.manual_seed(seed)   # the classifier's dropout masks
    return train_steps(model, loss_of_batch, len(schedule), lr, progress=progress, desc=desc)


@torch.no_grad()
def predict(
    model: BertForSequenceClassification, ids: Sequence[Sequence[int]], batch_size: int = 128
) -> torch.Tensor:
    """The predicted class of each text, ``(N,)``, in the order given (dropout off).
    ``ids`` must hold at least one text (an empty list is refused, as by ``accuracy``)."""
    _check(model, ids)
    check_int("batch_size", batch_size)
    model.eval()
    predictions = torch.empty(len(ids), dtype=torch.long)
    for rows in length_batches([len(x) for x in ids], batch_size):
        input_ids, attention_mask = collate_ids([ids[i] for i in rows], model.config.pad_token_id)
        predictions[rows] = model(input_ids, attention_mask=attention_mask).argmax(-1)
    return predictions


def accuracy(model: BertForSequenceClassification, ids: Sequence[Sequence[int]], labels: Sequence[int]) -> float:
    """The fraction of texts whose predicted class is the label (no texts: refused, 0/0)."""
    labels = _check(model, ids, labels)
    return (predict(model, ids) == torch.tensor(labels)).float().mean().item()
