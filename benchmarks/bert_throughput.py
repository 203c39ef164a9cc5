"""Encoder throughput of the book's BertModel against transformers' BertModel, in one run.

Both models have MiniLM-L6's sizes (384 dimensions, 6 layers, 12 heads, 1536 hidden units) and the
same random weights (copied with ``load_hf_state_dict``, checked equal before timing). Each forward
pass (inference, and training forward+backward) runs on the same padded batch; the two models
alternate over several rounds, and the JSON reports medians, tokens per second and the ratio
(> 1: the book's model is faster). The thread count is fixed and reported.

    .venv/bin/python benchmarks/bert_throughput.py [--threads 2] [--rounds 7]
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch

from transformer_book.bert.model import BertConfig, BertModel
from transformer_book.bert.weights import load_hf_state_dict
from transformer_book.common.utils import seed_everything


def seconds_per_call(fn, calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=3)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--length", type=int, default=64)
    args = parser.parse_args()
    import transformers

    torch.set_num_threads(args.threads)
    seed_everything(0)
    sizes = dict(vocab_size=30522, hidden_size=384, num_hidden_layers=6, num_attention_heads=12,
                 intermediate_size=1536, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    ref = transformers.BertModel(transformers.BertConfig(**sizes), add_pooling_layer=False)
    book = BertModel(BertConfig(**sizes), add_pooling_layer=False)
    load_hf_state_dict(book, ref.state_dict())
    B, T = args.batch, args.length
    ids = torch.randint(1000, 30000, (B, T))
    mask = torch.ones(B, T, dtype=torch.long)
    mask[B // 2:, T // 2:] = 0                     # half the rows padded to half length
    ids[mask == 0] = 0
    ref.eval(), book.eval()
    with torch.no_grad():
        gap = (book(ids, attention_mask=mask) - ref(input_ids=ids, attention_mask=mask).last_hidden_state)[mask.bool()]
    assert gap.abs().max() < 1e-4, "the two models disagree: fix parity before timing"

    def train_step(model, call):
        model.zero_grad(set_to_none=True)
        call().square().mean().backward()

    cases = {
        "book_inference": lambda: book(ids, attention_mask=mask),
        "transformers_inference": lambda: ref(input_ids=ids, attention_mask=mask).last_hidden_state,
        "book_train_step": lambda: train_step(book, lambda: book(ids, attention_mask=mask)),
        "transformers_train_step": lambda: train_step(
            ref, lambda: ref(input_ids=ids, attention_mask=mask).last_hidden_state),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for name, fn in cases.items():                 # warm up
        with torch.set_grad_enabled("train" in name):
            seconds_per_call(fn, 1)
    for _ in range(args.rounds):
        for name, fn in cases.items():
            with torch.set_grad_enabled("train" in name):
                times[name].append(seconds_per_call(fn, args.calls))
    median = {name: statistics.median(ts) for name, ts in times.items()}
    real_tokens = int(mask.sum())
    print(json.dumps({
        "benchmark": "BERT encoder (MiniLM-L6 sizes): book BertModel vs transformers BertModel",
        "threads": args.threads,
        "transformers": transformers.__version__,
        "attention_implementation": ref.config._attn_implementation,
        "shape": {"batch": B, "length": T, "real_tokens": real_tokens},
        "rounds": args.rounds,
        "calls_per_round": args.calls,
        "median_seconds": median,
        "real_tokens_per_second": {name: real_tokens / seconds for name, seconds in median.items()},
        "speed_ratio_book_over_transformers": {
            "inference": median["transformers_inference"] / median["book_inference"],
            "train_step": median["transformers_train_step"] / median["book_train_step"],
        },
    }, indent=2))


if __name__ == "__main__":
    main()
