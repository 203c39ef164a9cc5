"""Pretraining BERT from scratch: a WordPiece vocabulary, the 80/10/10 masking rule, the masked-LM
loss, batches of similar length, and a training loop with AdamW and BERT's learning-rate schedule.

Shapes: token ids ``(B, T)``; ``labels`` ``(B, T)`` hold the original id where a token was chosen
for prediction and ``IGNORE_INDEX`` (-100) everywhere else.
"""
from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Iterable, Sequence

import torch
from torch import nn
from tokenizers import Tokenizer, models, trainers

from transformer_book.encoder_decoder.batching import pad_sequences
from transformer_book.bert.model import BertForMaskedLM, check_number_where
from transformer_book.common.validation import check_int, check_token_ids
from transformer_book.bert.weights import configure_bert_tokenizer
from transformer_book.common.schedules import bert_lr
from transformer_book.common.training import optimizer_step, weight_decay_groups
from transformer_book.encoder_decoder.training import label_smoothed_loss

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")   # ids 0..4
PAD_ID, UNK_ID, CLS_ID, SEP_ID, MASK_ID = range(5)
IGNORE_INDEX = -100


def train_wordpiece(texts: Iterable[str], vocab_size: int, max_length: int = 128, min_frequency: int = 2) -> Tokenizer:
    """Train a lowercase WordPiece vocabulary with ``tokenizers``, with BERT's special tokens first
    (``[PAD]`` = 0 ... ``[MASK]`` = 4) and BERT's ``[CLS] text [SEP]`` template.

    ``texts`` is an iterable of strings (a single string is refused: it would train on its
    characters); texts that yield no piece beyond the special tokens (none, or all empty) are
    refused with a ``ValueError`` after the (then instant) training.
    """
    if isinstance(texts, (str, bytes)):
        raise TypeError("texts must be an iterable of strings, got a single string")
    check_int("vocab_size", vocab_size)
    check_int("max_length", max_length)
    check_int("min_frequency", min_frequency, minimum=0)
    if vocab_size <= len(SPECIAL_TOKENS):
        raise ValueError(f"vocab_size={vocab_size} leaves no room beyond the {len(SPECIAL_TOKENS)} special tokens")
    tokenizer = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    configure = lambda t: configure_bert_tokenizer(t, lowercase=True, max_length=max_length)  # noqa: E731
    tokenizer.add_special_tokens(list(SPECIAL_TOKENS))   # so that the check in configure passes
    configure(tokenizer)
    trainer = trainers.WordPieceTrainer(
        vocab_size=vocab_size, min_frequency=min_frequency, special_tokens=list(SPECIAL_TOKENS), show_progress=False
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    if tokenizer.get_vocab_size() <= len(SPECIAL_TOKENS):
        raise ValueError("texts gave no vocabulary beyond the special tokens: no text, or only empty ones")
    for index, token in enumerate(SPECIAL_TOKENS):
        assert tokenizer.token_to_id(token) == index, f"{token} should have id {index}"
    return configure(tokenizer)


def mask_tokens(
    input_ids: torch.Tensor,
    vocab_size: int,
    probability: float = 0.15,
    special_ids: Sequence[int] = (PAD_ID, CLS_ID, SEP_ID),
    mask_id: int = MASK_ID,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT's masking rule. Each token that is not special is chosen with ``probability``; a chosen
    token is replaced by ``[MASK]`` 80% of the time, by a random token 10% of the time, and kept
    10% of the time. Returns ``(inputs, labels)``, both ``(B, T)``: ``labels`` is the original id at
    the chosen positions and ``IGNORE_INDEX`` elsewhere. The random tokens are never special ones.

    ``input_ids`` may have any integer dtype (floats and bools are refused); both outputs are int64.
    Refused with a ``ValueError``: ``probability`` outside ``(0, 1)``, ids, ``special_ids`` or
    ``mask_id`` outside ``[0, vocab_size)``, and a vocabulary with no ordinary token to draw from.
    An empty ``special_ids`` makes every token a candidate.
    """
    check_token_ids("input_ids", input_ids)
    if input_ids.dim() != 2:
        raise ValueError(f"input_ids must have shape (batch, seq), got {tuple(input_ids.shape)}")
    check_int("vocab_size", vocab_size)
    check_number_where("probability", probability, "in (0, 1)", lambda v: 0.0 < v < 1.0)
    special_ids = list(special_ids)
    for name, value in [("mask_id", mask_id)] + [("special_ids", i) for i in special_ids]:
        check_int(name, value, minimum=0)
        if value >= vocab_size:
            raise ValueError(f"{name} must lie in [0, vocab_size={vocab_size}), got {value}")
    first_ordinary = max(special_ids + [mask_id, UNK_ID]) + 1   # random replacements come from here on
    if first_ordinary >= vocab_size:
        raise ValueError(f"vocab_size={vocab_size} leaves no ordinary tokens to draw random replacements from")
    input_ids = input_ids.long()
    low, high = torch.stack([input_ids.min(), input_ids.max()]).tolist() if input_ids.numel() else (0, 0)
    if low < 0 or high >= vocab_size:
        raise ValueError(f"input_ids must lie in [0, vocab_size={vocab_size}), got {low}..{high}")
    device = input_ids.device

    def uniform() -> torch.Tensor:
        return torch.rand(input_ids.shape, generator=generator, device=device)

    special = torch.isin(input_ids, torch.tensor(special_ids, dtype=torch.long, device=device))
    chosen = (uniform() < probability) & ~special                         # (B, T): predict these
    draw = uniform()
    to_mask = chosen & (draw < 0.8)                                        # 80%: [MASK]
    to_random = chosen & (draw >= 0.8) & (draw < 0.9)                      # 10%: a random token
    random_ids = torch.randint(first_ordinary, vocab_size, input_ids.shape, generator=generator, device=device)
    inputs = torch.where(to_mask, torch.full_like(input_ids, mask_id), input_ids)
    inputs = torch.where(to_random, random_ids, inputs)                    # the last 10%: unchanged
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    return inputs, labels


def mlm_loss(model: BertForMaskedLM, inputs: torch.Tensor, labels: torch.Tensor,
             attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """Cross-entropy of the masked-LM head at the chosen positions only.

    The head (and its ``(D, V)`` product with the embedding matrix) runs on the ``N`` chosen
    positions ``(N, D)`` instead of all ``B*T``: the same loss as over the full logits, about
    ``1 / 0.15`` times less work in the largest matrix product.

    ``labels`` ``(B, T)`` must hold ids of the vocabulary or ``IGNORE_INDEX`` and choose at least
    one position: with none the mean loss is 0/0, and a ``ValueError`` says so (not a NaN).
    """
    if not isinstance(model, BertForMaskedLM):
        raise TypeError(f"model must be a BertForMaskedLM, got {type(model).__name__}")
    check_token_ids("labels", labels)
    if not isinstance(inputs, torch.Tensor) or labels.shape != inputs.shape:
        shape = tuple(getattr(inputs, "shape", ()))
        raise ValueError(f"labels must have the shape of inputs {shape}, got {tuple(labels.shape)}")
    chosen = labels != IGNORE_INDEX                                        # (B, T)
    vocab = model.config.vocab_size
    outside = chosen & ((labels < 0) | (labels >= vocab))
    none_chosen, out_of_range = torch.stack([~chosen.any(), outside.any()]).tolist()   # one host sync
    if none_chosen:
        raise ValueError(f"labels choose no position (all are IGNORE_INDEX={IGNORE_INDEX}): nothing to predict")
    if out_of_range:
        raise ValueError(f"labels must be IGNORE_INDEX={IGNORE_INDEX} or lie in [0, vocab_size={vocab})")
    hidden = model.bert(inputs, attention_mask=attention_mask)             # (B, T, D)
    logits = model.cls(hidden[chosen])                                     # (N, V)
    return label_smoothed_loss(logits, labels[chosen].long(), 0.0, pad_id=None)


def length_batches(lengths: Sequence[int], batch_size: int, seed: int = 0) -> list[list[int]]:
    """Indices grouped into batches of similar length (little padding), in a shuffled order.
    No lengths give no batches (``[]``)."""
    check_int("batch_size", batch_size)
    rng = random.Random(seed)
    order = sorted(range(len(lengths)), key=lambda i: (lengths[i], rng.random()))
    batches = [order[start:start + batch_size] for start in range(0, len(order), batch_size)]
    rng.shuffle(batches)
    return batches


def collate_ids(sequences: Sequence[Sequence[int]], pad_id: int = PAD_ID) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad id lists into ``input_ids`` ``(B, T)`` and ``attention_mask`` ``(B, T)`` (1 = real token).

    Refused with a ``ValueError``: no sequences, and an empty sequence (its row would be all
    padding, which ``BertModel`` refuses).
    """
    check_int("pad_id", pad_id, minimum=0)
    if isinstance(sequences, (str, bytes)) or not hasattr(sequences, "__len__"):
        raise TypeError(f"sequences must be a list of id lists, got {type(sequences).__name__}")
    if len(sequences) == 0:
        raise ValueError("sequences is empty: no sequences to pad")
    empty = [row for row, sequence in enumerate(sequences) if len(sequence) == 0]
    if empty:
        raise ValueError(f"sequences[{empty[0]}] is empty: a row with no real token")
    input_ids = pad_sequences(sequences, pad_id)
    attention_mask = torch.zeros_like(input_ids)
    for row, sequence in enumerate(sequences):
        attention_mask[row, : len(sequence)] = 1
    return input_ids, attention_mask


# --------------------------------------------------------------------------------------------
# The loop: AdamW, linear warm-up then linear decay to 0 (BERT's schedule), gradient clipping
# --------------------------------------------------------------------------------------------
def make_adamw(model: nn.Module, lr: float, weight_decay: float = 0.01) -> torch.optim.AdamW:
    """AdamW with BERT's settings: decoupled weight decay on the weight matrices and embedding
    tables only, not on the biases and LayerNorm parameters (the 1-D tensors)."""
    check_number_where("lr", lr, "positive and finite", lambda v: 0 < v < math.inf)
    check_number_where("weight_decay", weight_decay, "non-negative and finite", lambda v: 0 <= v < math.inf)
    return torch.optim.AdamW(weight_decay_groups(model, weight_decay), lr=lr, betas=(0.9, 0.999), eps=1e-6)


@dataclass
class TrainLog:
    """One entry per update: ``steps``, ``loss``, ``lr``; and the wall time in ``seconds``."""

    steps: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: float = 0.0

    def smoothed(self, window: int = 20) -> list[float]:
        """The loss averaged over the last ``window`` updates (a readable curve)."""
        check_int("window", window)
        return [sum(self.loss[max(0, i - window + 1): i + 1]) / len(self.loss[max(0, i - window + 1): i + 1])
                for i in range(len(self.loss))]


def train_steps(
    model: nn.Module,
    loss_of_batch: Callable[[int], torch.Tensor],
    total_steps: int,
    lr: float,
    warmup_fraction: float = 0.1,
    weight_decay: float = 0.01,
    clip_norm: float = 1.0,
    desc: str = "training",
    progress: bool = True,
) -> TrainLog:
    """Make ``total_steps`` AdamW updates; update ``n`` (from 0) minimises ``loss_of_batch(n)``.

    The learning rate follows ``bert_lr`` with ``warmup_fraction`` of the updates as warm-up.
    Raises ``FloatingPointError`` if the loss stops being finite. Refused before the first update:
    ``total_steps < 1``, ``lr <= 0``, ``warmup_fraction`` outside ``[0, 1)``, ``clip_norm <= 0``,
    a negative ``weight_decay``; and at any update a loss that is not a scalar tensor.
    """
    if not callable(loss_of_batch):
        raise TypeError(f"loss_of_batch must be a function of the update number, got {type(loss_of_batch).__name__}")
    check_int("total_steps", total_steps)
    check_number_where("lr", lr, "positive and finite", lambda v: 0 < v < math.inf)
    check_number_where("warmup_fraction", warmup_fraction, "in [0, 1)", lambda v: 0 <= v < 1)
    check_number_where("clip_norm", clip_norm, "positive", lambda v: v > 0)
    optimizer = make_adamw(model, lr, weight_decay)
    warmup = int(warmup_fraction * total_steps)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda done: bert_lr(min(done + 1, total_steps), total_steps, warmup))
    log, start = TrainLog(), time.perf_counter()
    model.train()
    steps = range(total_steps)
    if progress:
        from tqdm.auto import tqdm

        steps = tqdm(steps, desc=desc, unit="step", mininterval=1.0)
    for step in steps:
        loss = loss_of_batch(step)
        if not isinstance(loss, torch.Tensor) or loss.dim() != 0:
            raise TypeError(f"loss_of_batch({step}) must return a scalar tensor, got {getattr(loss, 'shape', loss)!r}")
        log.lr.append(optimizer.param_groups[0]["lr"])
        optimizer_step(loss, model, optimizer, clip_norm=clip_norm)
        schedule.step()
        log.steps.append(step + 1)
        log.loss.append(loss.item())
        if not math.isfinite(log.loss[-1]):
            raise FloatingPointError(f"the loss became {log.loss[-1]} at update {step + 1}: lower the learning rate")
    log.seconds = time.perf_counter() - start
    model.eval()
    return log
