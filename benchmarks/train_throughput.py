"""Training speed of the book's encoder-decoder against ``nn.Transformer``, measured in one run.

Both models have the same embeddings (the book's, scaled, with sinusoidal positions), the same
generator tied to the shared embedding matrix, the same loss (``training.label_smoothed_loss``,
smoothing 0.1), the same optimizer (Adam 0.9/0.98, the paper's schedule) and gradient clipping:
they differ only in the encoder and decoder stacks, the book's ``Encoder``/``Decoder`` against
``nn.Transformer``'s, with the same starting weights (copied by ``parity.to_torch_transformer``)
and dropout 0.1 in both. The book's model puts dropout where the paper does (on each sublayer's
output and on the embeddings); ``nn.Transformer`` also drops attention weights and the
feed-forward hidden units. A third case, "book_torch_dropout", is the book's model with
``nn.Transformer``'s placement, so that the ratio can be read both ways.

Sizes: d_model 256, 3 + 3 layers, d_ff 1024, 4 heads, the full profile's shared BPE vocabulary,
batches of 64 sentence pairs of about 16 target tokens from the Ding training split.

Prints JSON: median target tokens per second of each case over the rounds and the ratios. The
thread count is fixed and reported, every case is warmed up, and the cases alternate within each
round so that load from elsewhere on a shared machine hits them alike. With ``--bf16`` (the
default when the CPU has AVX-512 BF16 or AMX) it also runs both models under bfloat16 autocast.

    .venv/bin/python benchmarks/train_throughput.py [--threads 2] [--rounds 7] [--steps 4]
"""
from __future__ import annotations

import argparse
import copy
import json
import platform
import statistics
import time
from contextlib import nullcontext
from pathlib import Path

import torch

from bleu_vs_torch import TorchEncoderDecoder   # benchmarks/ is on sys.path when run as a script
from transformer_book.encoder_decoder.batching import Batch, make_batches
from transformer_book.encoder_decoder.model import make_model
from transformer_book.encoder_decoder.training import label_smoothed_loss, make_optimizer, make_scheduler
from transformer_book.encoder_decoder.translate import TranslatorConfig, prepare_data
from transformer_book.common.utils import seed_everything


def benchmark_batches(batch_size: int, length: int) -> tuple[list[Batch], int]:
    """Length-grouped batches from the Ding training split whose targets have about ``length`` tokens."""
    tokenizer, _, encoded = prepare_data(TranslatorConfig.for_profile("full"))
    batches = make_batches(encoded["train"], batch_size, shuffle=True, seed=0)
    chosen = [b for b in batches if len(b) == batch_size and abs(b.tgt_out.shape[1] - length) <= 1]
    if not chosen:
        raise RuntimeError(f"no full batches with targets of about {length} tokens")
    return chosen, tokenizer.get_vocab_size()


def cpu_has_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--steps", type=int, default=4, help="training steps per case per round")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps per case first")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--length", type=int, default=16)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--bf16", choices=["auto", "yes", "no"], default="auto")
    parser.add_argument("--norm", choices=["translator", "post", "pre"], default="translator",
                        help="layer order: the full-profile translator's (default), post-norm or pre-norm")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    with_bf16 = args.bf16 == "yes" or (args.bf16 == "auto" and cpu_has_bf16())

    batches, vocab = benchmark_batches(args.batch, args.length)
    norm_first = {"pre": True, "post": False}.get(args.norm, TranslatorConfig.for_profile("full").norm_first)
    seed_everything(0)
    sizes = dict(N=3, d_model=256, d_ff=1024, h=4, dropout=args.dropout, shared_vocab=True,
                 norm_first=norm_first, final_norm=True)
    book = make_model(vocab, **sizes)
    seed_everything(0)
    book_torch_dropout = make_model(vocab, **sizes, attention_dropout=args.dropout, activation_dropout=args.dropout)
    reference = TorchEncoderDecoder(book, args.dropout)
    models = {"book": book, "book_torch_dropout": book_torch_dropout, "torch": reference}
    cases = {name: (name, None) for name in models}
    if with_bf16:
        models["book_bf16"] = copy.deepcopy(book)
        models["torch_bf16"] = copy.deepcopy(reference)
        cases.update({"book_bf16": ("book_bf16", torch.bfloat16), "torch_bf16": ("torch_bf16", torch.bfloat16)})
    optimizers = {name: make_optimizer(model) for name, model in models.items()}
    schedulers = {name: make_scheduler(opt, 256, 4000) for name, opt in optimizers.items()}
    cursor = {name: 0 for name in cases}

    def train_steps(name: str, steps: int) -> tuple[int, float]:
        model_name, dtype = cases[name]
        model, optimizer, scheduler = models[model_name], optimizers[model_name], schedulers[model_name]
        model.train()
        tokens, start = 0, time.perf_counter()
        for _ in range(steps):
            batch = batches[cursor[name] % len(batches)]
            cursor[name] += 1
            with torch.autocast("cpu", dtype=dtype) if dtype is not None else nullcontext():
                logits = model(batch.src, batch.tgt_in)                          # (B, T, V)
            loss = label_smoothed_loss(logits, batch.tgt_out, 0.1)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            scheduler.step()
            tokens += batch.ntokens
        return tokens, time.perf_counter() - start

    for name in cases:
        train_steps(name, args.warmup)
    rates: dict[str, list[float]] = {name: [] for name in cases}
    for round_index in range(args.rounds):
        order = list(cases) if round_index % 2 == 0 else list(reversed(cases))
        for name in order:
            tokens, seconds = train_steps(name, args.steps)
            rates[name].append(tokens / seconds)
    median = {name: statistics.median(values) for name, values in rates.items()}
    ratios = {
        "book / torch (float32)": median["book"] / median["torch"],
        "book with torch's dropout placement / torch (float32)": median["book_torch_dropout"] / median["torch"],
    }
    if with_bf16:
        ratios["book bf16 / torch float32"] = median["book_bf16"] / median["torch"]
        ratios["book bf16 / torch bf16"] = median["book_bf16"] / median["torch_bf16"]
        ratios["book bf16 / book float32"] = median["book_bf16"] / median["book"]
    print(json.dumps({
        "benchmark": "training throughput (forward, backward, clip, Adam step), target tokens per second",
        "threads": args.threads,
        "torch": torch.__version__,
        "cpu": platform.processor() or platform.machine(),
        "cpu_bf16": cpu_has_bf16(),
        "model": {"d_model": 256, "layers": "3+3", "d_ff": 1024, "heads": 4, "vocab": vocab,
                  "dropout": args.dropout, "shared_tied_embeddings": True,
                  "dropout_placement": {"book": "embeddings and sublayer outputs (the paper)",
                                        "book_torch_dropout and torch": "also attention weights and FFN hidden units"},
                  "norm": "pre-norm" if norm_first else "post-norm"},
        "batches": {"pairs": args.batch, "target_tokens_mean": statistics.mean(b.ntokens / len(b) for b in batches),
                    "distinct_batches": len(batches)},
        "rounds": args.rounds,
        "steps_per_round": args.steps,
        "median_target_tokens_per_second": median,
        "ratios": ratios,
        "target": "book >= 1.2 x torch",
    }, indent=2))


if __name__ == "__main__":
    main()
