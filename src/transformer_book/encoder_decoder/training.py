"""Training the encoder-decoder: the loss, the learning-rate schedule, the loop, checkpoints.

The pieces follow the paper (Vaswani et al., 2017, section 5):

- ``label_smoothed_loss``: cross-entropy against a target distribution that keeps ``1 - eps`` of
  its mass on the right token and spreads ``eps`` uniformly over the vocabulary (section 5.4), the
  same definition as ``F.cross_entropy(label_smoothing=eps)``; padding is ignored.
- ``transformer_lr`` / ``make_scheduler``: linear warm-up, then decay with the inverse square root
  of the step, ``d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)`` (section 5.3).
- ``make_optimizer``: Adam with ``betas=(0.9, 0.98)`` and ``eps=1e-9``.
- ``fit``: the training loop with gradient clipping, a progress bar, validation after every epoch,
  mixed precision where it pays, and checkpoints it can resume from.
- checkpoints (``checkpoints.save_checkpoint`` / ``load_checkpoint``): one file per checkpoint,
  written atomically, so that ``fit(resume=True)`` continues after a crash at any moment.

Shapes: logits ``(B, T, V)`` (or ``(N, V)``), targets ``(B, T)`` (or ``(N,)``).
"""
from __future__ import annotations

import math
import os
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from transformer_book.encoder_decoder.batching import PAD_ID, Batch
from transformer_book.common.schedules import transformer_lr
from transformer_book.common.training import autocast_context, autocast_dtype, optimizer_step
from transformer_book.common.checkpoints import load_checkpoint, save_checkpoint
from transformer_book.common.utils import pick_device
from transformer_book.common.validation import check_int, check_number


# --------------------------------------------------------------------------------------------
# The loss
# --------------------------------------------------------------------------------------------
def label_smoothed_loss(
    logits: torch.Tensor,
    target: torch.Tensor,
    smoothing: float = 0.0,
    pad_id: int | None = PAD_ID,
    reduction: str = "mean",
) -> torch.Tensor:
    """Cross-entropy with label smoothing, ignoring the positions where ``target == pad_id``.

    The target distribution puts ``1 - smoothing + smoothing / V`` on the right token and
    ``smoothing / V`` on each of the ``V`` tokens of the vocabulary, so the loss per position is

        (1 - smoothing) * (-log p[target]) + smoothing * mean_v(-log p[v]).

    This is the definition of ``F.cross_entropy(..., label_smoothing=smoothing,
    ignore_index=pad_id)``. ``logits`` is ``(..., V)`` and ``target`` is ``logits.shape[:-1]``.
    ``reduction="mean"`` averages over the non-pad positions, ``"sum"`` adds them up (for
    averages over many batches). The loss is computed in float32 whatever the logits' dtype.
    """
    if not 0.0 <= smoothing < 1.0:
        raise ValueError(f"smoothing must be in [0, 1), got {smoothing}")
    if reduction not in ("mean", "sum"):
        raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
    if logits.dim() < 2 or logits.shape[:-1] != target.shape:
        raise ValueError(
            f"logits must have shape (..., V) and target the same shape without V, got logits "
            f"{tuple(logits.shape)} and target {tuple(target.shape)}"
        )
    if target.dtype not in (torch.int64, torch.int32):
        raise TypeError(f"target must hold integer token ids, got {target.dtype}")
    log_probs = F.log_softmax(logits.float(), dim=-1)                      # (..., V)
    keep = torch.ones_like(target, dtype=torch.bool) if pad_id is None else target != pad_id
    safe_target = target.masked_fill(~keep, 0).long()                      # pads point anywhere
    nll = -log_probs.gather(-1, safe_target.unsqueeze(-1)).squeeze(-1)     # (...,): -log p[target]
    uniform = -log_probs.mean(dim=-1)                                      # (...,): mean_v -log p[v]
    per_position = (1.0 - smoothing) * nll + smoothing * uniform           # (...,)
    total = per_position.masked_fill(~keep, 0.0).sum()
    if reduction == "sum":
        return total
    return total / keep.sum()   # 0/0 = nan when every position is padding, like F.cross_entropy


# --------------------------------------------------------------------------------------------
# The learning-rate schedule and the optimizer
# --------------------------------------------------------------------------------------------
def make_optimizer(model: nn.Module, lr: float = 1.0) -> torch.optim.Adam:
    """Adam with the paper's ``betas=(0.9, 0.98)`` and ``eps=1e-9``.

    ``lr`` is a base rate that the scheduler multiplies; with ``make_scheduler`` leave it at 1.0,
    so that the learning rate is exactly ``transformer_lr``.
    """
    return torch.optim.Adam(model.parameters(), lr=lr, betas=(0.9, 0.98), eps=1e-9)


def make_scheduler(
    optimizer: torch.optim.Optimizer, d_model: int, warmup: int, factor: float = 1.0
) -> torch.optim.lr_scheduler.LambdaLR:
    """A ``LambdaLR`` that sets the learning rate of update ``n`` (n = 1, 2, ...) to
    ``base_lr * transformer_lr(n, d_model, warmup, factor)``. Call ``scheduler.step()`` after
    every ``optimizer.step()``; ``scheduler.last_epoch`` is then the number of updates made."""
    transformer_lr(1, d_model, warmup, factor)  # check the arguments now, not at the first step
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda updates_done: transformer_lr(updates_done + 1, d_model, warmup, factor)
    )


# --------------------------------------------------------------------------------------------
# Devices and mixed precision
# --------------------------------------------------------------------------------------------
# --------------------------------------------------------------------------------------------
# The loop
# --------------------------------------------------------------------------------------------
@dataclass
class History:
    """What ``fit`` measured: one entry per optimizer step, and one per epoch.

    Per step: ``steps`` (1, 2, ...), ``train_loss`` (the label-smoothed loss of that batch, the
    quantity being minimised), ``lr``, ``grad_norm`` (before clipping).
    Per epoch: ``epochs``, ``epoch_end_step``, ``valid_loss`` (label-smoothed, comparable with
    ``train_loss``), ``valid_nll`` (plain cross-entropy, whose exponential is the perplexity),
    ``tokens_per_second`` (target tokens trained on per second of wall time) and ``epoch_seconds``
    (the wall time of the epoch's training steps, without validation). Also the ``device`` and the
    number of CPU ``threads`` torch used.
    """

    steps: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    epochs: list[int] = field(default_factory=list)
    epoch_end_step: list[int] = field(default_factory=list)
    valid_loss: list[float] = field(default_factory=list)
    valid_nll: list[float] = field(default_factory=list)
    tokens_per_second: list[float] = field(default_factory=list)
    epoch_seconds: list[float] = field(default_factory=list)
    device: str = ""
    threads: int = 0

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "History":
        return cls(**{key: list(value) if isinstance(value, list) else value for key, value in data.items()})


@torch.no_grad()
def evaluate(
    model: nn.Module,
    batches: Sequence[Batch],
    smoothing: float = 0.0,
    device: torch.device | str | None = None,
    amp: bool | None = None,
) -> dict[str, float]:
    """The model's loss on ``batches`` (dropout off), averaged over all non-pad target tokens:
    ``{"loss": label-smoothed loss, "nll": plain cross-entropy, "tokens": count}``."""
    if len(batches) == 0:
        raise ValueError("evaluate needs at least one batch")
    device = torch.device(device) if device is not None else next(model.parameters()).device
    dtype = autocast_dtype(device, amp)
    was_training = model.training
    model.eval()
    smoothed = nll = 0.0
    tokens = 0
    for batch in batches:
        batch = batch.to(device)
        with autocast_context(device, dtype):
            logits = model(batch.src, batch.tgt_in)                    # (B, T, V)
        pad_id = getattr(model, "pad_id", PAD_ID)
        smoothed += float(label_smoothed_loss(logits, batch.tgt_out, smoothing, pad_id, reduction="sum"))
        nll += float(label_smoothed_loss(logits, batch.tgt_out, 0.0, pad_id, reduction="sum"))
        tokens += batch.ntokens
    model.train(was_training)
    return {"loss": smoothed / tokens, "nll": nll / tokens, "tokens": tokens}


def _model_d_model(model: nn.Module) -> int:
    generator = getattr(model, "generator", None)
    proj = getattr(generator, "proj", None)
    if isinstance(proj, nn.Linear):
        return proj.in_features
    raise ValueError("cannot tell d_model from this model: pass d_model= to fit")


def fit(
    model: nn.Module,
    train_batches: Sequence[Batch],
    valid_batches: Sequence[Batch],
    epochs: int,
    *,
    warmup: int = 4000,
    factor: float = 1.0,
    d_model: int | None = None,
    smoothing: float = 0.1,
    clip_norm: float | None = 1.0,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    device: torch.device | str | None = None,
    amp: bool | None = None,
    checkpoint_path: str | os.PathLike | None = None,
    resume: bool = False,
    extra: dict | None = None,
    seed: int = 0,
    progress: bool = True,
) -> History:
    """Train ``model`` for ``epochs`` epochs and return its ``History``.

    Each step: forward with teacher forcing (``model(batch.src, batch.tgt_in)``), the
    label-smoothed loss against ``batch.tgt_out``, backward, gradient clipping to ``clip_norm``,
    an Adam step with the learning rate of ``transformer_lr``. After each epoch: the validation
    loss, and a checkpoint at ``checkpoint_path`` if given. The batches are visited in a new
    order each epoch, drawn from ``seed`` and the epoch number.

    ``device=None`` picks one with ``pick_device()``; the model is moved there. ``amp``: mixed
    precision, see ``autocast_dtype`` (on by default on CUDA only). With ``resume=True`` and an
    existing checkpoint, training continues after the last completed epoch, with the optimizer,
    scheduler, random generators and history as they were, so that the result is the same as an
    uninterrupted run's (on the same device); ``epochs`` is the total, not the number to add.
    """
    check_int("epochs", epochs)
    if clip_norm is not None:
        check_number("clip_norm", clip_norm, low=0.0, low_open=True)   # a norm <= 0 would flip or zero every step
    check_number("smoothing", smoothing, 0.0, 1.0, high_open=True)
    check_int("seed", seed, minimum=0)
    if len(train_batches) == 0 or len(valid_batches) == 0:
        raise ValueError("fit needs at least one training batch and one validation batch")
    for name, batches in (("train_batches", train_batches), ("valid_batches", valid_batches)):
        if not all(isinstance(batch, Batch) for batch in batches):
            raise TypeError(f"{name} must be a sequence of Batch (see batching.make_batches)")
    if resume and checkpoint_path is None:
        raise ValueError("resume=True needs a checkpoint_path")
    device = pick_device() if device is None else torch.device(device)
    model.to(device)
    dtype = autocast_dtype(device, amp)
    scaler = torch.amp.GradScaler(device.type) if dtype == torch.float16 else None
    optimizer = make_optimizer(model) if optimizer is None else optimizer
    if scheduler is None:
        scheduler = make_scheduler(optimizer, d_model or _model_d_model(model), warmup, factor)
    pad_id = getattr(model, "pad_id", PAD_ID)

    history, first_epoch = History(), 1
    if resume and Path(checkpoint_path).exists():
        info = load_checkpoint(checkpoint_path, model, optimizer, scheduler, restore_rng=True)
        history = History.from_dict(info["extra"]["history"])
        first_epoch = info["extra"]["epoch"] + 1
        if info["step"] != scheduler.last_epoch:
            raise ValueError(f"checkpoint step {info['step']} does not match its scheduler ({scheduler.last_epoch})")
    step = scheduler.last_epoch  # updates made so far
    history.device, history.threads = str(device), torch.get_num_threads()

    total = (epochs - first_epoch + 1) * len(train_batches)
    bar = None
    if progress and total > 0:
        from tqdm.auto import tqdm

        bar = tqdm(total=total, desc="training", unit="step", mininterval=1.0)
    model.train()
    for epoch in range(first_epoch, epochs + 1):
        order = list(range(len(train_batches)))
        random.Random(seed * 100_003 + epoch).shuffle(order)
        start, tokens = time.perf_counter(), 0
        epoch_losses, epoch_norms, epoch_lrs = [], [], []
        for index in order:
            batch = train_batches[index].to(device)
            lr = optimizer.param_groups[0]["lr"]
            with autocast_context(device, dtype):
                logits = model(batch.src, batch.tgt_in)                       # (B, T, V)
            loss = label_smoothed_loss(logits, batch.tgt_out, smoothing, pad_id)
            norm = optimizer_step(loss, model, optimizer, scaler, clip_norm)
            scheduler.step()
            step += 1
            tokens += batch.ntokens
            epoch_losses.append(loss.detach())
            epoch_norms.append(norm.detach())
            epoch_lrs.append(lr)
            if bar is not None:
                bar.update(1)
                if step % 20 == 0:
                    bar.set_postfix(epoch=epoch, loss=f"{loss.item():.3f}", lr=f"{lr:.2e}", refresh=False)
        seconds = time.perf_counter() - start
        losses = torch.stack(epoch_losses).tolist()
        if not all(math.isfinite(value) for value in losses):
            raise FloatingPointError(
                f"the training loss became {losses[-1]} in epoch {epoch}: lower the learning rate "
                "(factor) or lengthen the warm-up"
            )
        history.steps.extend(range(step - len(losses) + 1, step + 1))
        history.train_loss.extend(losses)
        history.grad_norm.extend(torch.stack(epoch_norms).float().tolist())
        history.lr.extend(epoch_lrs)
        scores = evaluate(model, valid_batches, smoothing, device, amp)
        history.epochs.append(epoch)
        history.epoch_end_step.append(step)
        history.valid_loss.append(scores["loss"])
        history.valid_nll.append(scores["nll"])
        history.tokens_per_second.append(tokens / seconds)
        history.epoch_seconds.append(seconds)
        if bar is not None:
            bar.set_postfix(epoch=epoch, loss=f"{losses[-1]:.3f}", valid=f"{scores['loss']:.3f}")
        if checkpoint_path is not None:
            payload = {**(extra or {}), "epoch": epoch, "history": history.to_dict()}
            save_checkpoint(checkpoint_path, model, optimizer, scheduler, step, payload)
    if bar is not None:
        bar.close()
    model.eval()
    return history
