"""Training a GPT on a stream of token ids: the split, random batches, AdamW, the schedule, the loop.

The recipe is nanoGPT's (Karpathy, 2022) for small character-level models, written for the book:

- ``split_ids``: the first 90% of the text for training, the last 10% for validation;
- ``random_batch``: ``B`` windows of ``T + 1`` consecutive tokens at random offsets; the input is
  the first ``T`` tokens and the target the same window shifted by one;
- ``make_adamw``: AdamW with weight decay on the matrices only (not on biases and LayerNorms);
- ``cosine_lr``: linear warm-up, then a cosine decay to ``min_lr``;
- ``train_gpt``: the loop, with gradient clipping, a progress bar, and the validation loss
  estimated every ``eval_interval`` steps as the mean over ``eval_iters`` random batches.

Shapes: a split is a 1-D ``int64`` tensor of ids ``(N,)``; batches are ``(B, T)``.
"""
from __future__ import annotations

import math
import numbers
import statistics
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from transformer_book.common.validation import check_bool, check_int, check_number, check_token_ids
from transformer_book.common.schedules import check_schedule, cosine_lr
from transformer_book.common.training import optimizer_step, weight_decay_groups


class CharTokenizer:
    """Every distinct character of a text is a token; ids follow the characters' sorted order.

    ``encode`` refuses characters that were not in the text (ValueError) and ``decode`` refuses
    ids outside ``[0, vocab_size)`` (ValueError) and ids that are not integers (TypeError); the
    empty string and the empty list encode and decode to each other.
    """

    def __init__(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if not text:
            raise ValueError("CharTokenizer needs a non-empty text to collect its characters from")
        self.chars = sorted(set(text))
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        unknown = sorted(set(text) - set(self.stoi))
        if unknown:
            raise ValueError(f"text holds characters {unknown[:10]} that are not in this tokenizer's "
                             f"vocabulary of {self.vocab_size}")
        return [self.stoi[ch] for ch in text]

    def decode(self, ids) -> str:
        """The text of ``ids``: a sequence of ints or a 1-D integer tensor (any integer dtype)."""
        if isinstance(ids, torch.Tensor):
            check_token_ids("ids", ids, self.vocab_size, dims=1)
            ids = ids.tolist()
        elif isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__"):
            raise TypeError(f"ids must be a sequence of token ids or a 1-D tensor, got {type(ids).__name__}")
        else:
            ids = list(ids)
            bad = next((i for i in ids if isinstance(i, bool) or not isinstance(i, numbers.Integral)), None)
            if bad is not None:
                raise TypeError(f"ids must hold integer token ids, got {bad!r} ({type(bad).__name__})")
            if ids and (min(ids) < 0 or max(ids) >= self.vocab_size):
                raise ValueError(f"ids must hold token ids in [0, {self.vocab_size}) (the vocabulary), "
                                 f"got ids from {min(ids)} to {max(ids)}")
        return "".join([self.chars[i] for i in ids])


def split_ids(ids: torch.Tensor | list[int], train_fraction: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``train_fraction`` of the ids for training, the rest for validation (int64, 1-D).

    ``ids``: a list of ints or a 1-D tensor of any integer dtype; floats and bools are refused
    (they used to be truncated silently). Empty ids give two empty splits."""
    if not 0.0 < check_number("train_fraction", train_fraction) < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    if not isinstance(ids, torch.Tensor):
        if isinstance(ids, (str, bytes)):
            raise TypeError(f"ids must be token ids, got a {type(ids).__name__}: encode the text first")
        try:
            ids = torch.as_tensor(ids) if len(ids) else torch.zeros(0, dtype=torch.long)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"ids must be a sequence of integer token ids, got {type(ids).__name__}: {error}") from None
    if ids.dim() != 1:
        raise ValueError(f"ids must be one flat sequence, got shape {tuple(ids.shape)}")
    check_token_ids("ids", ids, None, dims=1)
    data = ids.long()
    cut = int(train_fraction * len(data))
    return data[:cut], data[cut:]


def random_batch(data: torch.Tensor, batch_size: int, block_size: int,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of ``data``: inputs ``x`` and next-token targets ``y``, ``(B, T)``.

    ``data`` must be a 1-D integer tensor (any integer dtype) longer than ``block_size``; sizes are
    positive ints. The batches are int64."""
    _check_batch_args(data, batch_size, block_size, generator)
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)   # (B,)
    window = starts[:, None] + torch.arange(block_size + 1)                               # (B, T+1)
    tokens = data[window].long()                                                        # (B, T+1)
    return tokens[:, :-1], tokens[:, 1:]


def _check_batch_args(data: torch.Tensor, batch_size: int, block_size: int,
                      generator: torch.Generator | None) -> None:
    check_token_ids("data", data, None, dims=1)
    check_int("batch_size", batch_size)
    check_int("block_size", block_size)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if len(data) <= block_size:
        raise ValueError(f"a split of {len(data)} tokens is too short for windows of block_size + 1 = {block_size + 1}")


def make_adamw(model: nn.Module, lr: float, weight_decay: float = 0.1,
               betas: tuple[float, float] = (0.9, 0.99), fused: bool | None = None) -> torch.optim.AdamW:
    """AdamW that decays the weight matrices and embeddings but not the biases and LayerNorm gains.

    ``fused=None`` uses PyTorch's fused kernel where it exists (one kernel for all parameters,
    instead of a Python loop over them): on the CPU since PyTorch 2.4, and on CUDA.
    """
    _check_adamw(model, lr, weight_decay, betas, fused)
    if fused is None:
        fused = next(model.parameters()).device.type in ("cpu", "cuda")
    return torch.optim.AdamW(weight_decay_groups(model, weight_decay), lr=lr, betas=betas, fused=fused)


def _check_betas(betas) -> None:
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair of numbers, got {betas!r}")
    if not all(0 <= check_number("betas", beta) < 1 for beta in betas):
        raise ValueError(f"betas must both be in [0, 1), got {betas!r}")


def _check_adamw(model: nn.Module, lr: float, weight_decay: float, betas, fused: bool | None) -> None:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if next(model.parameters(), None) is None:
        raise ValueError(f"model has no parameters to optimise ({type(model).__name__})")
    if check_number("lr", lr) < 0:
        raise ValueError(f"lr must be >= 0, got {lr!r}")
    if check_number("weight_decay", weight_decay) < 0:
        raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
    _check_betas(betas)
    if fused is not None:
        check_bool("fused", fused)


def estimate_loss(model: nn.Module, data: torch.Tensor, eval_iters: int, batch_size: int, block_size: int,
                  generator: torch.Generator | None = None) -> float:
    """The mean cross-entropy (nats per token) over ``eval_iters`` random batches, in eval mode."""
    losses = batch_losses(model, data, eval_iters, batch_size, block_size, generator)
    return sum(losses) / len(losses)


@torch.no_grad()
def batch_losses(model: nn.Module, data: torch.Tensor, eval_iters: int, batch_size: int, block_size: int,
                 generator: torch.Generator | None = None) -> list[float]:
    """The mean cross-entropy of each of ``eval_iters`` random batches, in eval mode (the model's
    mode is restored, also after an error). ``eval_iters`` must be a positive int."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    check_int("eval_iters", eval_iters)
    _check_batch_args(data, batch_size, block_size, generator)
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    losses = []
    try:
        for _ in range(eval_iters):
            x, y = random_batch(data, batch_size, block_size, generator)
            logits = model(x.to(device))
            losses.append(F.cross_entropy(logits.flatten(0, 1), y.to(device).flatten()).item())
    finally:
        model.train(was_training)
    return losses


@dataclass
class TrainConfig:
    """nanoGPT's small character-level recipe (``train_shakespeare_char`` on a CPU).

    Every field is checked on creation (and again by ``train_gpt``): counts are ints (not bools),
    ``max_iters``, ``batch_size``, ``eval_interval``, ``eval_iters`` and ``final_eval_iters`` at
    least 1, ``warmup`` at least 0; ``lr > 0``, ``0 <= min_lr <= lr``, ``weight_decay >= 0``,
    ``betas`` two numbers in [0, 1), ``grad_clip`` > 0 or None (no clipping)."""

    max_iters: int = 2000
    batch_size: int = 12
    lr: float = 1e-3
    min_lr: float = 1e-4
    warmup: int = 100
    weight_decay: float = 0.1
    betas: tuple[float, float] = (0.9, 0.99)
    grad_clip: float = 1.0
    eval_interval: int = 250
    eval_iters: int = 20          # batches per estimate during training
    final_eval_iters: int = 200   # batches for the final estimate
    seed: int = 1337

    def __post_init__(self) -> None:
        for name in ("max_iters", "batch_size", "eval_interval", "eval_iters", "final_eval_iters"):
            check_int(name, getattr(self, name))
        check_schedule(self.lr, self.warmup, self.min_lr)
        if check_number("weight_decay", self.weight_decay) < 0:
            raise ValueError(f"weight_decay must be >= 0, got {self.weight_decay!r}")
        _check_betas(self.betas)
        if self.grad_clip is not None and not check_number("grad_clip", self.grad_clip) > 0:
            raise ValueError(f"grad_clip must be positive or None, got {self.grad_clip!r}")
        check_int("seed", self.seed, minimum=-(2 ** 63))


@dataclass
class GPTHistory:
    """Per step: ``train_loss`` (that batch's), ``lr``, ``step_ms`` (wall time of the step).
    Per evaluation: ``eval_steps``, ``eval_train_loss``, ``eval_val_loss``. Then the final
    ``val_loss`` over ``final_eval_iters`` batches with the standard deviation of those batches'
    losses (``val_loss_std``), and the number of torch ``threads``."""

    train_loss: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    step_ms: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    eval_train_loss: list[float] = field(default_factory=list)
    eval_val_loss: list[float] = field(default_factory=list)
    val_loss: float = float("nan")
    val_loss_std: float = float("nan")
    threads: int = 0

    @property
    def median_step_ms(self) -> float:
        if not self.step_ms:
            raise ValueError("median_step_ms: step_ms is empty, no step has been recorded")
        return statistics.median(self.step_ms)

    def to_dict(self) -> dict:
        return asdict(self)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               lr: float, grad_clip: float | None) -> torch.Tensor:
    """One update at learning rate ``lr``: forward, cross-entropy, backward, clipping, AdamW step.

    ``x`` and ``y`` must be integer ``(B, T)`` tensors of the same shape (targets in the model's
    vocabulary when it has a ``config.vocab_size``); ``lr >= 0``; ``grad_clip`` > 0 or None."""
    _check_step(model, optimizer, x, y, lr, grad_clip)
    for group in optimizer.param_groups:
        group["lr"] = lr
    logits = model(x)                                                       # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten().long())
    optimizer_step(loss, model, optimizer, clip_norm=grad_clip)   # no clipping for None
    return loss.detach()


def _check_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
                lr: float, grad_clip: float | None) -> None:
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    vocab_size = getattr(getattr(model, "config", None), "vocab_size", None)
    check_token_ids("x", x, None, 2)
    check_token_ids("y", y, vocab_size, 2)
    if x.shape != y.shape:
        raise ValueError(f"x and y must have the same shape, got {tuple(x.shape)} and {tuple(y.shape)}")
    if check_number("lr", lr) < 0:
        raise ValueError(f"lr must be >= 0, got {lr!r}")
    if grad_clip is not None and not check_number("grad_clip", grad_clip) > 0:
        raise ValueError(f"grad_clip must be positive or None, got {grad_clip!r}")


def train_gpt(model: nn.Module, train_data: torch.Tensor, val_data: torch.Tensor, config: TrainConfig,
              progress: bool = True) -> GPTHistory:
    """Train ``model`` on random windows of ``train_data`` (its ``block_size`` long) for
    ``config.max_iters`` steps, and return its ``GPTHistory``. Batches and evaluations draw from
    generators seeded with ``config.seed``, so a run repeats exactly on the same machine.

    Checked before the first step: ``model`` has a ``config`` (a ``GPT``), ``config`` is a valid
    ``TrainConfig`` (checked again, in case a field was changed after creation), and both splits
    are 1-D integer tensors of ids in the model's vocabulary, longer than its ``block_size``."""
    gpt_config = getattr(model, "config", None)
    if not isinstance(model, nn.Module) or not hasattr(gpt_config, "block_size"):
        raise TypeError(f"model must be a GPT (an nn.Module with a config), got {type(model).__name__}")
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    config.__post_init__()
    check_bool("progress", progress)
    block_size = gpt_config.block_size
    for name, split in (("train_data", train_data), ("val_data", val_data)):
        check_token_ids(name, split, gpt_config.vocab_size, dims=1)
        if len(split) <= block_size:
            raise ValueError(f"{name} holds {len(split)} tokens, too few for windows of block_size + 1 = {block_size + 1}")
    device = next(model.parameters()).device
    batches = torch.Generator().manual_seed(config.seed)
    evals = torch.Generator().manual_seed(config.seed + 1)
    optimizer = make_adamw(model, config.lr, config.weight_decay, config.betas)
    history = GPTHistory(threads=torch.get_num_threads())
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.max_iters, desc="training", unit="step", mininterval=1.0)
    def evaluate(steps_done: int) -> None:
        history.eval_steps.append(steps_done)
        for split, losses in ((train_data, history.eval_train_loss), (val_data, history.eval_val_loss)):
            losses.append(estimate_loss(model, split, config.eval_iters, config.batch_size, block_size, evals))

    model.train()
    evaluate(0)
    for step in range(config.max_iters):
        start = time.perf_counter()
        x, y = random_batch(train_data, config.batch_size, block_size, batches)
        lr = cosine_lr(step, config.lr, config.warmup, config.max_iters, config.min_lr)
        loss = train_step(model, optimizer, x.to(device), y.to(device), lr, config.grad_clip)
        history.step_ms.append(1000 * (time.perf_counter() - start))
        history.train_loss.append(loss.item())
        history.lr.append(lr)
        if not math.isfinite(history.train_loss[-1]):
            raise FloatingPointError(f"the training loss became {history.train_loss[-1]} at step {step}: lower the learning rate")
        if (step + 1) % config.eval_interval == 0 or step + 1 == config.max_iters:
            evaluate(step + 1)
        if bar is not None:
            bar.update(1)
            if step % 50 == 0:
                bar.set_postfix(loss=f"{history.train_loss[-1]:.3f}", refresh=False)
    if bar is not None:
        bar.close()
    final = batch_losses(model, val_data, config.final_eval_iters, config.batch_size, block_size, evals)
    history.val_loss = statistics.mean(final)
    history.val_loss_std = statistics.stdev(final) if len(final) > 1 else 0.0
    model.eval()
    return history
