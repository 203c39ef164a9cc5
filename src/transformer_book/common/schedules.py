"""Learning-rate schedules, each a plain function of the update number: the original Transformer's
(warm-up, then inverse square root), BERT's (warm-up, then linear decay) and GPT's (warm-up, then
cosine decay to a floor)."""
from __future__ import annotations

import math

from transformer_book.common.validation import check_int, check_number


def transformer_lr(step: int, d_model: int, warmup: int, factor: float = 1.0) -> float:
    """The paper's learning rate at optimizer step ``step`` (counted from 1):

        factor * d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)

    It rises linearly for ``warmup`` steps, peaks at ``factor * (d_model * warmup)^-0.5`` when
    ``step == warmup``, then decays as ``1 / sqrt(step)``.
    """
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ValueError(f"steps are counted from 1, got step={step!r}")
    check_int("d_model", d_model)
    check_int("warmup", warmup)
    check_number("factor", factor, low=0.0, low_open=True)   # 0 would not train, < 0 trains uphill
    return factor * d_model ** -0.5 * min(step ** -0.5, step * warmup ** -1.5)


def bert_lr(step: int, total_steps: int, warmup_steps: int) -> float:
    """The multiplier of the peak learning rate at update ``step`` (from 1): linear warm-up over
    ``warmup_steps`` (``step / warmup_steps``), then linear decay that would reach 0 one update after
    the last, ``(total_steps - step + 1) / (total_steps - warmup_steps)``, so that no update is spent
    at a learning rate of 0 (the decay of ``transformers``' ``get_linear_schedule_with_warmup``)."""
    check_int("total_steps", total_steps)
    check_int("warmup_steps", warmup_steps, minimum=0)
    check_int("step", step)
    if not 1 <= step <= total_steps:
        raise ValueError(f"step must be in 1..{total_steps}, got {step}")
    if warmup_steps and step <= warmup_steps:
        return step / warmup_steps
    return (total_steps - step + 1) / (total_steps - warmup_steps)


def check_schedule(lr: float, warmup: int, min_lr: float) -> None:
    """Raise unless ``lr`` > 0, ``warmup`` is an int >= 0 and ``0 <= min_lr <= lr`` (``cosine_lr``'s arguments)."""
    if not check_number("lr", lr) > 0:
        raise ValueError(f"lr must be positive, got {lr!r}")
    check_int("warmup", warmup, minimum=0)
    if not 0 <= check_number("min_lr", min_lr) <= lr:
        raise ValueError(f"min_lr must be in [0, lr={lr}], got {min_lr!r}")


def cosine_lr(step: int, lr: float, warmup: int, decay_steps: int, min_lr: float) -> float:
    """The learning rate of step ``step`` (from 0): linear warm-up to ``lr`` over ``warmup`` steps,
    then a half cosine from ``lr`` down to ``min_lr`` at ``decay_steps``, and ``min_lr`` after.
    Refused: negative ``step``, ``warmup`` or ``decay_steps``, ``lr <= 0``, ``min_lr`` outside ``[0, lr]``."""
    check_int("step", step, minimum=0)
    check_int("decay_steps", decay_steps, minimum=0)
    check_schedule(lr, warmup, min_lr)
    if step < warmup:
        return lr * (step + 1) / (warmup + 1)
    if step >= decay_steps:
        return min_lr
    progress = (step - warmup) / max(1, decay_steps - warmup)                 # 0 .. 1
    return min_lr + 0.5 * (1.0 + math.cos(math.pi * progress)) * (lr - min_lr)
