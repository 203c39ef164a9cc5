"""What every decoder's sampling shares: filtering logits to the top-k and the nucleus (top-p), the
distribution a sample is drawn from, and running a model for inference.

Shapes: logits ``(..., V)``.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

from transformer_book.common.validation import check_int, check_number

NEG_INF = float("-inf")


@contextmanager
def evaluation_mode(model: nn.Module) -> Iterator[None]:
    """Evaluation mode and no gradients inside; the model's previous mode is restored after."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        model.train(was_training)


def check_sampling(temperature: float, top_k: int | None, top_p: float | None) -> None:
    """Raise unless ``temperature`` > 0, ``top_k`` is None or an int >= 1 and ``top_p`` is None or in (0, 1]."""
    check_number("temperature", temperature, low=0.0, low_open=True)
    if top_k is not None:
        check_int("top_k", top_k)
    if top_p is not None:
        check_number("top_p", top_p, 0.0, 1.0, low_open=True)


def _check_logits(logits: torch.Tensor) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor (..., V), got "
                        f"{logits.dtype if isinstance(logits, torch.Tensor) else type(logits).__name__}")
    if logits.dim() == 0 or logits.shape[-1] == 0:
        raise ValueError(f"logits must have a non-empty last (vocabulary) dimension, got shape {tuple(logits.shape)}")


def filter_logits(
    logits: torch.Tensor, top_k: int | None = None, top_p: float | None = None
) -> torch.Tensor:
    """Set to ``-inf`` every logit outside the top-k and outside the nucleus; shape ``(..., V)``.

    - top-k keeps exactly the ``top_k`` largest logits of each row (ties broken by ``topk``);
    - top-p keeps the smallest set of most probable tokens whose probability mass is at least
      ``top_p`` (computed from ``softmax(logits)``, after the top-k cut when both are given).
    The most probable token always survives. Returns a new tensor.
    """
    check_sampling(1.0, top_k, top_p)
    _check_logits(logits)
    logits = logits.clone()
    if top_k is not None and top_k < logits.shape[-1]:
        keep = torch.zeros_like(logits, dtype=torch.bool)
        keep.scatter_(-1, logits.topk(top_k, dim=-1).indices, True)
        logits = logits.masked_fill(~keep, NEG_INF)
    if top_p is not None and top_p < 1:
        sorted_logits, order = logits.sort(dim=-1, descending=True)
        probs = sorted_logits.softmax(dim=-1)
        mass_before = probs.cumsum(dim=-1) - probs           # mass of the more probable tokens
        drop_sorted = mass_before >= top_p                    # the set already reached top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        logits = logits.masked_fill(drop, NEG_INF)
    return logits


def sampling_probs(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> torch.Tensor:
    """The distribution ``sample`` draws from, ``(..., V)``: ``softmax(filter(logits / T))``."""
    check_sampling(temperature, top_k, top_p)
    _check_logits(logits)
    return filter_logits(logits / temperature, top_k, top_p).softmax(dim=-1)
