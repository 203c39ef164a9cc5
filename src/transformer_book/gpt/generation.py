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

from transformer_book.common.sampling import check_sampling, evaluation_mode, sampling_probs
from transformer_book.gpt.model import GPT, KVCache, check_decoder_config
from transformer_book.common.validation import check_bool, check_int, check_number, check_token_ids


@dataclass
class Generation:
    """``tokens``: ``(B, T0 + n)``, the prompt then the ``n`` generated tokens (after a row's stop
    token, the row is padded with the stop token). ``logits``: ``(B, n, V)``, the raw logits that
    each step chose from (only with ``return_logits=True``)."""

    tokens: torch.Tensor
    logits: torch.Tensor | None = None


def _check_options(greedy: bool, temperature: float, top_k: int | None, top_p: float | None,
                   vocab_size: int) -> None:
    check_bool("greedy", greedy)
    if check_number("temperature", temperature) == 0:
        raise ValueError("temperature=0 means always taking the most probable token: pass greedy=True")
    if greedy and (top_k is not None or top_p is not None or temperature != 1.0):
        raise ValueError("greedy=True takes the most probable token: do not combine it with "
                         "temperature, top_k or top_p")
    check_sampling(temperature, top_k, top_p)
    if top_k is not None and top_k > vocab_size:
        raise ValueError(f"top_k must be at most the vocabulary size {vocab_size}, got {top_k}")


def _check_generator(generator: torch.Generator | None, device: torch.device) -> None:
    if generator is None:
        return
    if not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if generator.device.type != device.type:
        raise ValueError(f"generator is on {generator.device}, but the draws are made on {device}: "
                         f"create it with torch.Generator(device={str(device)!r})")


def _check_generate(model: GPT, idx: torch.Tensor, max_new_tokens: int, temperature: float,
                    greedy: bool, top_k: int | None, top_p: float | None, stop_token: int | None,
                    generator: torch.Generator | None, use_cache: bool, return_logits: bool) -> None:
    config = getattr(model, "config", None)
    try:
        check_decoder_config(config)
    except TypeError:
        raise TypeError(f"model must be a GPT or a Llama, got {type(model).__name__}") from None
    if not callable(model):
        raise TypeError(f"model must be a GPT or a Llama, got {type(model).__name__}")
    check_token_ids("idx", idx, None, 2)
    if idx.shape[0] == 0 or idx.shape[1] == 0:
        raise ValueError(f"idx must hold at least one prompt of at least one token, got shape {tuple(idx.shape)}")
    if idx.shape[1] > config.block_size:
        raise ValueError(f"idx has prompts of {idx.shape[1]} tokens, more than block_size={config.block_size}: "
                         "crop them to their last block_size tokens, idx[:, -block_size:]")
    device = next(model.parameters()).device
    if idx.device != device:
        raise ValueError(f"idx is on {idx.device} but the model is on {device}")
    check_int("max_new_tokens", max_new_tokens, minimum=0)
    _check_options(greedy, temperature, top_k, top_p, config.vocab_size)
    if stop_token is not None and check_int("stop_token", stop_token, minimum=0) >= config.vocab_size:
        raise ValueError(f"stop_token must be a token id in [0, {config.vocab_size}), got {stop_token}")
    _check_generator(generator, device)
    check_bool("use_cache", use_cache)
    check_bool("return_logits", return_logits)
    check_token_ids("idx", idx, config.vocab_size, 2)                 # last: the one check that syncs


def next_token(logits: torch.Tensor, greedy: bool = False, temperature: float = 1.0, top_k: int | None = None,
               top_p: float | None = None, generator: torch.Generator | None = None) -> torch.Tensor:
    """One token per row from logits ``(B, V)``: the arg-max, or a draw from
    ``softmax(filter(logits / temperature))`` with top-k and top-p filtering. Returns ``(B,)``.

    Refused: logits that are not a floating-point ``(B, V)`` tensor, a temperature that is not a
    finite number > 0, ``top_k`` outside ``[1, V]``, ``top_p`` outside ``(0, 1]``, ``greedy=True``
    with any of those options, and a generator on another device than the logits.
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor, got {getattr(logits, 'dtype', type(logits).__name__)}")
    if logits.dim() != 2 or logits.shape[1] == 0:
        raise ValueError(f"logits must have shape (batch, vocab) with vocab >= 1, got {tuple(logits.shape)}")
    _check_options(greedy, temperature, top_k, top_p, logits.shape[1])
    _check_generator(generator, logits.device)
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

    ``idx`` may have any integer dtype; the tokens returned are int64. Refused before any work:
    an empty prompt or batch, prompts longer than ``block_size`` (crop them first), ids outside
    the vocabulary, ``idx`` on another device than the model, ``max_new_tokens`` that is not an
    integer >= 0 (bools included), ``stop_token`` outside the vocabulary, a generator on another
    device, and the sampling options that ``next_token`` refuses. ``max_new_tokens=0`` returns
    the prompt.
    """
    _check_generate(model, idx, max_new_tokens, temperature, greedy, top_k, top_p, stop_token,
                    generator, use_cache, return_logits)
    idx = idx.long()
    block_size = model.config.block_size
    with evaluation_mode(model):
        cache = None
        if use_cache and idx.shape[1] <= block_size:
            max_len = min(block_size, idx.shape[1] + max(max_new_tokens, 1))   # no more than it will hold
            cache = KVCache(model.config, idx.shape[0], max_len, device=idx.device,
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
