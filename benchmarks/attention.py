"""Speed of the book's attention against PyTorch's built-ins, measured in one run.

Prints JSON: median seconds per call for each implementation and ratios against PyTorch
(ratio > 1 means the book's version is slower). The thread count is fixed and reported; the
implementations alternate over several rounds so that load from elsewhere hits them alike.

    .venv/bin/python benchmarks/attention.py [--threads 2] [--rounds 7]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
import torch.nn.functional as F
from torch import nn

from transformer_book.pieces.attention import scaled_dot_product_attention
from transformer_book.pieces.multi_head import MultiHeadAttention
from transformer_book.common.utils import seed_everything


def one_call_seconds(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def copy_into_torch(book: MultiHeadAttention) -> nn.MultiheadAttention:
    ref = nn.MultiheadAttention(book.d_model, book.num_heads, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([book.w_q.weight, book.w_k.weight, book.w_v.weight]))
        ref.in_proj_bias.copy_(torch.cat([book.w_q.bias, book.w_k.bias, book.w_v.bias]))
        ref.out_proj.load_state_dict(book.w_o.state_dict())
    return ref


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=128)
    parser.add_argument("--d-model", type=int, default=256)
    parser.add_argument("--heads", type=int, default=4)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seed_everything(0)

    B, T, D, H = args.batch, args.length, args.d_model, args.heads
    q, k, v = (torch.randn(B, H, T, D // H) for _ in range(3))
    x = torch.randn(B, T, D)
    mask = torch.ones(T, T, dtype=torch.bool).tril()
    book_mha = MultiHeadAttention(D, H).eval()
    torch_mha = copy_into_torch(book_mha).eval()

    cases = {
        "book_sdpa_fused": lambda: scaled_dot_product_attention(q, k, v, mask),
        "book_sdpa_stepwise": lambda: scaled_dot_product_attention(q, k, v, mask, return_weights=True),
        "torch_sdpa": lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        "book_multi_head": lambda: book_mha(x, x, x, mask),
        "torch_multi_head": lambda: torch_mha(x, x, x, attn_mask=~mask, need_weights=False),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    with torch.inference_mode():
        for fn in cases.values():  # warm up
            one_call_seconds(fn, 3)
        for _ in range(args.rounds):
            for name, fn in cases.items():
                times[name].append(one_call_seconds(fn, args.calls))
    median = {name: statistics.median(ts) for name, ts in times.items()}
    print(json.dumps({
        "benchmark": "attention forward (inference), causal mask",
        "threads": args.threads,
        "shape": {"batch": B, "length": T, "d_model": D, "heads": H},
        "rounds": args.rounds,
        "calls_per_round": args.calls,
        "median_seconds": median,
        "ratio_vs_torch": {
            "book_sdpa_fused / torch_sdpa": median["book_sdpa_fused"] / median["torch_sdpa"],
            "book_sdpa_stepwise / torch_sdpa": median["book_sdpa_stepwise"] / median["torch_sdpa"],
            "book_multi_head / torch_multi_head": median["book_multi_head"] / median["torch_multi_head"],
        },
    }, indent=2))


if __name__ == "__main__":
    main()
