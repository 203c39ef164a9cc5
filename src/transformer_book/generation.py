"""Text generation with a GPT: greedy or sampled (temperature, top-k, top-p), with a KV cache.

Each step feeds the model the tokens it has not seen yet, takes the logits at the last position,
and chooses one token per row. Without a cache, "not seen yet" is the whole context (at most
``block_size`` tokens, the last ones), recomputed every step; with a ``KVCache``, it is the prompt
once and then one token per step, while the keys and values of the earlier positions are reused.
Both give the same tokens and the same logits (up to float32 rounding).

Past ``block_size`` tokens the learned positions run out: the context must be cropped to its last
``block_size`` tokens, every token's position changes, and the cached keys are no longer valid.
From there on ``generate`` recomputes the cropped window each step, with or without a cache.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .decoding import _check_sampling, _inference, sampling_probs
from .gpt import GPT, KVCache


@dataclass
class Generation:
    """``tokens``: ``(B, T0 + n)``, the prompt then the ``n`` generated tokens (after a row's stop
    token, the row is padded with the stop token). ``logits``: ``(B, n, V)``, the raw logits that
    each step chose from (only with ``return_logits=True``)."""

    tokens: torch.Tensor
    logits: torch.Tensor | None = None


def _check_generate(model: GPT, idx: torch.Tensor, max_new_tokens: int, temperature: float,
                    greedy: bool, top_k: int | None, top_p: float | None, stop_token: int | None) -> None:
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.shape[1] == 0:
        raise ValueError(f"idx must be a non-empty (batch, seq) tensor of token ids, got "
                         f"{tuple(idx.shape) if isinstance(idx, torch.Tensor) else type(idx).__name__}")
    if not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if temperature == 0:
        raise ValueError("temperature=0 means always taking the most probable token: pass greedy=True")
    if greedy and (top_k is not None or top_p is not None or temperature != 1.0):
        raise ValueError("greedy=True takes the most probable token: do not combine it with "
                         "temperature, top_k or top_p")
    _check_sampling(temperature, top_k, top_p)
    if stop_token is not None and not 0 <= stop_token < model.config.vocab_size:
        raise ValueError(f"stop_token must be a token id in [0, {model.config.vocab_size}), got {stop_token}")


def next_token(logits: torch.Tensor, greedy: bool = False, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row from logits ``(B, V)``: the arg-max, or a draw from
    ``softmax(filter(logits / temperature))`` with top-k and top-p filtering. Returns ``(B,)``."""
    if greedy:
        return logits.argmax(dim=-1)
    probs = sampling_probs(logits.float(), temperature, top_k, top_p)               # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


def generate(
    model: GPT,
    idx: torch.Tensor,
    max_new_tokens: int,
    *,
    greedy: bool = False,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    stop_token: int | None = None,
    generator: torch.Generator | None = None,
    use_cache: bool = True,
    return_logits: bool = False,
) -> Generation:
    """Continue the prompts ``idx`` ``(B, T0)`` by up to ``max_new_tokens`` tokens.

    ``greedy=True`` takes the most probable token; otherwise tokens are drawn after dividing the
    logits by ``temperature`` (> 0) and keeping the ``top_k`` most probable tokens and the top-p
    nucleus. Pass a seeded ``torch.Generator`` for reproducible draws. Generation stops early once
    every row has produced ``stop_token``. The model is in eval mode, without gradients, meanwhile.
    """
    _check_generate(model, idx, max_new_tokens, temperature, greedy, top_k, top_p, stop_token)
    block_size = model.config.block_size
    with _inference(model):
        cache = None
        if use_cache and idx.shape[1] <= block_size:
            cache = KVCache(model.config, idx.shape[0], device=idx.device,
                            dtype=next(model.parameters()).dtype)
        tokens, chosen_logits = idx, []
        done = torch.zeros(idx.shape[0], dtype=torch.bool, device=idx.device)
        for _ in range(max_new_tokens):
            if cache is not None and cache.length + 1 > block_size:
                cache = None                                   # positions run out: recompute from here
            if cache is not None:
                logits = model(tokens[:, cache.length:], cache)[:, -1]                  # (B, V)
            else:
                logits = model(tokens[:, -block_size:])[:, -1]                          # (B, V)
            choice = next_token(logits, greedy, temperature, top_k, top_p, generator)  # (B,)
            if stop_token is not None:
                choice = choice.masked_fill(done, stop_token)
                done |= choice == stop_token
            tokens = torch.cat([tokens, choice[:, None]], dim=1)
            if return_logits:
                chosen_logits.append(logits)
            if stop_token is not None and bool(done.all()):
                break
    stacked = torch.stack(chosen_logits, dim=1) if chosen_logits else None
    if return_logits and stacked is None:
        stacked = idx.new_zeros(idx.shape[0], 0, model.config.vocab_size, dtype=torch.float32)
    return Generation(tokens, stacked)
