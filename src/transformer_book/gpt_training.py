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
import statistics
import time
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from .training import weight_decay_groups


class CharTokenizer:
    """Every distinct character of a text is a token; ids follow the characters' sorted order."""

    def __init__(self, text: str) -> None:
        if not text:
            raise ValueError("CharTokenizer needs a non-empty text to collect its characters from")
        self.chars = sorted(set(text))
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        unknown = sorted(set(text) - set(self.stoi))
        if unknown:
            raise KeyError(f"characters {unknown[:10]} are not in this tokenizer's vocabulary")
        return [self.stoi[ch] for ch in text]

    def decode(self, ids) -> str:
        return "".join(self.chars[i] for i in (ids.tolist() if isinstance(ids, torch.Tensor) else ids))


def split_ids(ids: torch.Tensor | list[int], train_fraction: float = 0.9) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``train_fraction`` of the ids for training, the rest for validation (int64, 1-D)."""
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must be in (0, 1), got {train_fraction}")
    data = torch.as_tensor(ids, dtype=torch.long)
    if data.dim() != 1:
        raise ValueError(f"ids must be one flat sequence, got shape {tuple(data.shape)}")
    cut = int(train_fraction * len(data))
    return data[:cut], data[cut:]


def random_batch(data: torch.Tensor, batch_size: int, block_size: int,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``batch_size`` random windows of ``data``: inputs ``x`` and next-token targets ``y``, ``(B, T)``."""
    if len(data) <= block_size:
        raise ValueError(f"a split of {len(data)} tokens is too short for windows of block_size + 1 = {block_size + 1}")
    starts = torch.randint(len(data) - block_size, (batch_size,), generator=generator)   # (B,)
    window = starts[:, None] + torch.arange(block_size + 1)                               # (B, T+1)
    tokens = data[window]
    return tokens[:, :-1], tokens[:, 1:]


def cosine_lr(step: int, lr: float, warmup: int, decay_steps: int, min_lr: float) -> float:
    """The learning rate of step ``step`` (from 0): linear warm-up to ``lr`` over ``warmup`` steps,
    then a half cosine from ``lr`` down to ``min_lr`` at ``decay_steps``, and ``min_lr`` after."""
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    if step >= decay_steps:
        return min_lr
    progress = (step - warmup) / max(1, decay_steps - warmup)                 # 0 .. 1
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)


def make_adamw(model: nn.Module, lr: float, weight_decay: float = 0.1,
               betas: tuple[float, float] = (0.9, 0.99), fused: bool | None = None) -> torch.optim.AdamW:
    """AdamW that decays the weight matrices and embeddings but not the biases and LayerNorm gains.

    ``fused=None`` uses PyTorch's fused kernel where it exists (one kernel for all parameters,
    instead of a Python loop over them): on the CPU since PyTorch 2.4, and on CUDA.
    """
    if fused is None:
        fused = next(model.parameters()).device.type in ("cpu", "cuda")
    return torch.optim.AdamW(weight_decay_groups(model, weight_decay), lr=lr, betas=betas, fused=fused)


def estimate_loss(model: nn.Module, data: torch.Tensor, eval_iters: int, batch_size: int, block_size: int,
                  generator: torch.Generator | None = None) -> float:
    """The mean cross-entropy (nats per token) over ``eval_iters`` random batches, in eval mode."""
    losses = batch_losses(model, data, eval_iters, batch_size, block_size, generator)
    return sum(losses) / len(losses)


@torch.no_grad()
def batch_losses(model: nn.Module, data: torch.Tensor, eval_iters: int, batch_size: int, block_size: int,
                 generator: torch.Generator | None = None) -> list[float]:
    """The mean cross-entropy of each of ``eval_iters`` random batches, in eval mode."""
    if eval_iters < 1:
        raise ValueError(f"eval_iters must be at least 1, got {eval_iters}")
    was_training = model.training
    model.eval()
    device = next(model.parameters()).device
    losses = []
    for _ in range(eval_iters):
        x, y = random_batch(data, batch_size, block_size, generator)
        logits = model(x.to(device))
        losses.append(F.cross_entropy(logits.flatten(0, 1), y.to(device).flatten()).item())
    model.train(was_training)
    return losses


@dataclass
class TrainConfig:
    """nanoGPT's small character-level recipe (``train_shakespeare_char`` on a CPU)."""

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
        return statistics.median(self.step_ms)

    def to_dict(self) -> dict:
        return asdict(self)


def train_step(model: nn.Module, optimizer: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor,
               lr: float, grad_clip: float | None) -> torch.Tensor:
    """One update at learning rate ``lr``: forward, cross-entropy, backward, clipping, AdamW step."""
    for group in optimizer.param_groups:
        group["lr"] = lr
    logits = model(x)                                                       # (B, T, V)
    loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    if grad_clip is not None:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    return loss.detach()


def train_gpt(model: nn.Module, train_data: torch.Tensor, val_data: torch.Tensor, config: TrainConfig,
              progress: bool = True) -> GPTHistory:
    """Train ``model`` on random windows of ``train_data`` (its ``block_size`` long) for
    ``config.max_iters`` steps, and return its ``GPTHistory``. Batches and evaluations draw from
    generators seeded with ``config.seed``, so a run repeats exactly on the same machine."""
    block_size = model.config.block_size
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
