"""Fine-tuning BERT to classify texts, and measuring its accuracy.

Texts are encoded once (``encode_texts``); training visits batches of similar length in a new
order each epoch and minimises the cross-entropy of ``BertForSequenceClassification``'s logits
``(B, C)`` with AdamW (``bert_pretraining.train_steps``).
"""
from __future__ import annotations

import random
from typing import Sequence

import torch
import torch.nn.functional as F
from tokenizers import Tokenizer

from .bert import BertForSequenceClassification
from .bert_pretraining import TrainLog, collate_ids, length_batches, train_steps


def encode_texts(tokenizer: Tokenizer, texts: Sequence[str]) -> list[list[int]]:
    """Each text as ``[CLS] pieces [SEP]`` ids (truncated as the tokenizer is configured)."""
    return [encoding.ids for encoding in tokenizer.encode_batch(list(texts))]


def _check(ids: Sequence[Sequence[int]], labels: Sequence[int] | None = None) -> None:
    if len(ids) == 0:
        raise ValueError("no texts given")
    if labels is not None and len(labels) != len(ids):
        raise ValueError(f"{len(ids)} texts but {len(labels)} labels")


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
    """Train every weight of ``model`` on ``(ids, labels)`` for ``epochs`` epochs; returns the log."""
    _check(ids, labels)
    if epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if min(labels) < 0 or max(labels) >= model.num_labels:
        raise ValueError(f"labels must lie in [0, {model.num_labels}), got {min(labels)}..{max(labels)}")
    schedule = [batch for epoch in range(epochs)
                for batch in length_batches([len(x) for x in ids], batch_size, seed=seed * 1000 + epoch)]
    target = torch.tensor(list(labels))

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
    """The predicted class of each text, ``(N,)``, in the order given (dropout off)."""
    _check(ids)
    model.eval()
    predictions = torch.empty(len(ids), dtype=torch.long)
    for rows in length_batches([len(x) for x in ids], batch_size):
        input_ids, attention_mask = collate_ids([ids[i] for i in rows], model.config.pad_token_id)
        predictions[rows] = model(input_ids, attention_mask=attention_mask).argmax(-1)
    return predictions


def accuracy(model: BertForSequenceClassification, ids: Sequence[Sequence[int]], labels: Sequence[int]) -> float:
    """The fraction of texts whose predicted class is the label."""
    _check(ids, labels)
    return (predict(model, ids) == torch.tensor(list(labels))).float().mean().item()
