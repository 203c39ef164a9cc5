"""Beam search with and without the key-value cache, and batched against sentence by sentence.

All three ways run the package's ``beam_search`` on the translator of ``train_translator`` (loaded
from its cache, or trained first), on the same test sentences:

- "batched": ``--batch-size`` sentences with all their beams as one decoder batch of
  ``batch * beam`` rows, with the key-value cache (the default);
- "batched_no_cache": the same batches, ``use_cache=False`` (the decoder reruns every prefix);
- "one_at_a_time": one call per sentence (a batch of ``beam`` rows), with the cache.

All three must give the same translations, and the script checks that they do.
Prints JSON: the thread count (fixed), median seconds per round for each way, sentences per
second, and the ratios no-cache / cache and one-at-a-time / batched (> 1: the first is slower).
The ways alternate over several rounds after a warm-up, so that load from elsewhere hits them alike.

    .venv/bin/python benchmarks/decoding_speed.py [--profile full] [--threads 2] [--rounds 5]
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import torch

from transformer_book.encoder_decoder.decoding import beam_search
from transformer_book.encoder_decoder.evaluation import encode_sources
from transformer_book.encoder_decoder.translate import TranslatorConfig, train_translator
from transformer_book.common.utils import seed_everything


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--profile", choices=["quick", "full"], default="full",
                        help="which cached translator to use (trained first if not cached)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sentences", type=int, default=64, help="test sentences decoded per round")
    parser.add_argument("--batch-size", type=int, default=64, help="sentences per batch for the batched way")
    parser.add_argument("--beam", type=int, default=4)
    parser.add_argument("--length-penalty", type=float, default=0.6)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    seed_everything(0)

    config = TranslatorConfig.for_profile(args.profile)
    model, tokenizer, splits, _ = train_translator(config, device=args.device, progress=sys.stderr.isatty())
    model.eval()
    device = next(model.parameters()).device
    sentences = [de for de, _ in splits["test"][: args.sentences]]
    max_len = config.max_len
    # The batched way sees the sentences in batches of similar length, as translate_sentences does.
    order = sorted(range(len(sentences)), key=lambda i: len(tokenizer.encode(sentences[i], add_special_tokens=False).ids))
    chunks = [order[i : i + args.batch_size] for i in range(0, len(order), args.batch_size)]
    batched_src = [encode_sources(tokenizer, [sentences[i] for i in chunk]).to(device) for chunk in chunks]
    single_src = [encode_sources(tokenizer, [sentence]).to(device) for sentence in sentences]

    def batched(use_cache: bool = True) -> dict[int, list[int]]:
        out = {}
        for chunk, src in zip(chunks, batched_src):
            out.update(zip(chunk, beam_search(model, src, args.beam, max_len, args.length_penalty, use_cache=use_cache)))
        return out

    def batched_no_cache() -> dict[int, list[int]]:
        return batched(use_cache=False)

    def one_at_a_time() -> dict[int, list[int]]:
        return {i: beam_search(model, src, args.beam, max_len, args.length_penalty)[0] for i, src in enumerate(single_src)}

    def timed(fn):
        start = time.perf_counter()
        result = fn()
        if device.type == "cuda":
            torch.cuda.synchronize()
        return time.perf_counter() - start, result

    ways = {"batched": batched, "batched_no_cache": batched_no_cache, "one_at_a_time": one_at_a_time}
    with torch.inference_mode():
        outputs = {name: timed(way)[1] for name, way in ways.items()}   # warm-up, and the outputs to compare
        times: dict[str, list[float]] = {name: [] for name in ways}
        for _ in range(args.rounds):
            for name, way in ways.items():
                times[name].append(timed(way)[0])
    warm_batched = outputs["batched"]
    different = {name: sum(out[i] != warm_batched[i] for i in out) for name, out in outputs.items() if name != "batched"}
    same = not any(different.values())
    median = {name: statistics.median(ts) for name, ts in times.items()}
    mean_output_tokens = sum(len(h) for h in warm_batched.values()) / len(warm_batched)
    print(json.dumps({
        "benchmark": "beam search: with the key-value cache vs without; batched over sentences and beams vs one sentence at a time",
        "threads": args.threads,
        "device": str(device),
        "profile": args.profile,
        "model": {"d_model": config.d_model, "N": config.N, "heads": config.h, "vocab": tokenizer.get_vocab_size()},
        "sentences": len(sentences),
        "batch_size": args.batch_size,
        "beam_size": args.beam,
        "length_penalty": args.length_penalty,
        "max_len": max_len,
        "mean_output_tokens": mean_output_tokens,
        "rounds": args.rounds,
        "median_seconds": median,
        "all_seconds": times,
        "sentences_per_second": {name: len(sentences) / seconds for name, seconds in median.items()},
        "ratio_no_cache_over_cache": median["batched_no_cache"] / median["batched"],
        "ratio_one_at_a_time_over_batched": median["one_at_a_time"] / median["batched"],
        "translations_differing_from_batched": different,
        "same_translations": same,
    }, indent=2))
    if not same:
        raise SystemExit(f"the ways gave different translations: {different}")


if __name__ == "__main__":
    main()
