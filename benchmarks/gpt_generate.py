"""Generation speed of the book's GPT, with and without the KV cache: tokens per second.

Two models with nanoGPT's small CPU sizes (4 layers, 4 heads, 128-dim embeddings, a character
vocabulary), with random weights (speed does not depend on what the weights are):

- ``block64``: nanoGPT's block size of 64. Past 64 tokens the learned positions run out, the
  window slides and every step recomputes 64 positions, so the cache helps only at the start;
- ``block1024``: the same model with 1024 positions, generating 1000 tokens, where the cache
  saves recomputing an ever longer prefix.

Each setting samples one sequence (batch 1) from a one-token prompt with nanoGPT's sampler
settings (temperature 0.8, top-k 200); with and without the cache alternate over several rounds,
and the medians are reported. nanoGPT's sampler, which has no cache, made about 460 tokens per
second on this machine (with its trained block-64 model).

    .venv/bin/python benchmarks/gpt_generate.py [--threads 2] [--rounds 3]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from transformer_book.gpt.generation import generate
from transformer_book.gpt.model import GPT, GPTConfig

NANOGPT_TOKENS_PER_SECOND = 460


def tokens_per_second(model: GPT, new_tokens: int, use_cache: bool, seed: int) -> float:
    prompt = torch.zeros(1, 1, dtype=torch.long)
    start = time.perf_counter()
    out = generate(model, prompt, new_tokens, temperature=0.8, top_k=min(200, model.config.vocab_size),
                   use_cache=use_cache,
                   generator=torch.Generator().manual_seed(seed))
    seconds = time.perf_counter() - start
    assert out.tokens.shape[1] == 1 + new_tokens
    return new_tokens / seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    settings = {"block64": (64, 500), "block1024": (1024, 1000)}
    result: dict = {"threads": torch.get_num_threads(), "batch": 1, "sampler": "temperature 0.8, top-k 200",
                    "nanogpt_sampler_tokens_per_second": NANOGPT_TOKENS_PER_SECOND}
    for name, (block, new_tokens) in settings.items():
        config = GPTConfig(vocab_size=83, block_size=block, n_layer=4, n_head=4, n_embd=128, bias=False,
                           activation="gelu")
        model = GPT(config).eval()
        tokens_per_second(model, 20, True, 0)       # warm-up
        tokens_per_second(model, 20, False, 0)
        rates = {"cache": [], "no_cache": []}
        for round_ in range(args.rounds):
            order = ("cache", "no_cache") if round_ % 2 == 0 else ("no_cache", "cache")
            for mode in order:
                rates[mode].append(tokens_per_second(model, new_tokens, mode == "cache", round_))
        medians = {mode: statistics.median(values) for mode, values in rates.items()}
        result[name] = {
            "new_tokens": new_tokens,
            "tokens_per_second": {mode: round(value, 1) for mode, value in medians.items()},
            "cache_speedup": round(medians["cache"] / medians["no_cache"], 2),
        }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
