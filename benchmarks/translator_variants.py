"""Variants of the book's German-to-English translator, each against the cached default, same budget.

The default is ``TranslatorConfig.for_profile("full")`` as ``translate.train_translator`` trains
and caches it (loaded from the cache here, never retrained: the script stops if it is missing).
Each variant changes one thing and trains once, from scratch, with the package's own pipeline
(``batching.train_tokenizer`` on its training pairs, ``encode_pairs``, ``make_batches``,
``translate.build_model``, ``training.fit``):

- ``phrases``: the Ding dictionary's multi-word phrase pairs (``data.ding.load_ding_phrase_pairs``)
  added to the training split, only those ``split_by_hash`` puts in "train" and whose German is
  no validation or test German (``data.ding.leak_free_pairs``);
- ``bible``: the Elberfelder 1932 / World English Bible verse pairs (``data.bible.load_bible_pairs``)
  added, minus any whose German is a validation or test German;
- ``vocab8000``: a shared BPE vocabulary of 8,000 instead of 4,000;
- ``wide``: d_model 256 and d_ff 1024 instead of 128 and 512;
- ``default``: the default configuration trained again (a check of the budgeting).

The budget. Data and vocabulary variants train on as many target tokens (non-pad positions of
``tgt_out``, counted with the variant's own tokenizer) as the default did: its 15 epochs of its
training split. That is whole passes over the variant's training batches, each an epoch of
``fit`` (sharing one optimizer and learning-rate schedule), and a last, partial pass over a seeded
random subset of the batches that fills the budget. ``wide`` is budgeted by time: the training
throughput (target tokens per second) of the default-size and the wide model is measured in this
run on the same batches (3 alternating rounds, medians), and the wide model gets the default's
tokens times the ratio, that is, the same training time on this machine. Added pairs whose
source or target would be truncated at ``max_len`` tokens are dropped (the Ding pairs are kept as
the default keeps them). The validation and test splits are the Ding ones, untouched.

Scores: greedy decoding (``translate_sentences(beam_size=1, max_len=config.max_len)``) of the 793
test sentences, corpus BLEU and chrF (``corpus_scores``), and sacreBLEU's paired bootstrap
(``PairedTest``, 1,000 resamples) of each variant against the default's greedy outputs.

    BOOK_CACHE=_build/cache .venv/bin/python benchmarks/translator_variants.py --variant phrases

Prints one JSON object per variant (and writes them all to ``--out`` if given).
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path

import torch
from sacrebleu.metrics import BLEU, CHRF
from sacrebleu.significance import PairedTest

from transformer_book.common.utils import seed_everything
from transformer_book.encoder_decoder.batching import encode_pairs, make_batches, train_tokenizer
from transformer_book.encoder_decoder.evaluation import corpus_scores, translate_sentences
from transformer_book.encoder_decoder.training import fit, make_optimizer, make_scheduler
from transformer_book.encoder_decoder.translate import (TranslatorConfig, build_model, cache_key,
    cached_training_info, default_cache_dir, load_splits, train_translator)

VARIANTS = ("phrases", "bible", "vocab8000", "wide", "default")
REPO = Path(__file__).resolve().parents[1]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S', time.gmtime())}] {message}", file=sys.stderr, flush=True)


def target_tokens(encoded) -> int:
    """Non-pad positions of ``tgt_out`` (what ``Batch.ntokens`` counts): target ids minus BOS."""
    return sum(len(tgt) - 1 for _, tgt in encoded)


def variant_config(name: str, base: TranslatorConfig) -> TranslatorConfig:
    if name == "vocab8000":
        return dataclasses.replace(base, vocab_size=8000)
    if name == "wide":
        return dataclasses.replace(base, d_model=256, d_ff=1024)
    return base


def extra_pairs(name: str, splits) -> tuple[list[tuple[str, str]], dict]:
    """The pairs a variant adds to the training split, and counts of how they were filtered."""
    from transformer_book.data.ding import leak_free_pairs

    if name == "phrases":
        from transformer_book.data.ding import load_ding_phrase_pairs

        loaded = load_ding_phrase_pairs()
        kept = leak_free_pairs(loaded, splits, require_train_hash=True)
    elif name == "bible":
        from transformer_book.data.bible import load_bible_pairs

        loaded = load_bible_pairs()
        kept = leak_free_pairs(loaded, splits, require_train_hash=False)
    else:
        return [], {}
    return kept, {"loaded": len(loaded), "after_leakage_filter": len(kept)}


def measure_throughput(configs: dict, vocab_size: int, batches, valid, rounds: int = 3, steps: int = 12) -> dict:
    """Median training tokens per second of each config's model on the same ``steps`` batches,
    measured with ``fit`` (one epoch of those batches, validation excluded), configs alternating."""
    sample = random.Random(1).sample(range(len(batches)), steps)
    sub = [batches[i] for i in sample]
    models = {name: build_model(config, vocab_size) for name, config in configs.items()}
    optimizers = {name: make_optimizer(model) for name, model in models.items()}
    schedulers = {name: make_scheduler(optimizers[name], configs[name].d_model, configs[name].warmup,
                                       configs[name].lr_factor) for name in models}

    def run(name, chosen):
        return fit(models[name], chosen, valid[:1], 1, optimizer=optimizers[name], scheduler=schedulers[name],
                   device="cpu", progress=False)

    for name in models:  # warm-up
        run(name, sub[:2])
    speeds: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(rounds):
        for name in models:
            history = run(name, sub)
            speeds[name].append(history.tokens_per_second[0])
    return {name: statistics.median(values) for name, values in speeds.items()} | {"rounds": speeds}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variant", nargs="+", choices=VARIANTS, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--bootstrap-samples", type=int, default=1000)
    parser.add_argument("--out", type=Path, default=None, help="also write the results (a JSON list) here")
    parser.add_argument("--max-train-seconds", type=float, default=None,
                        help="skip the remaining passes when the next would end after this many seconds "
                             "(the result then says so and reports the tokens actually trained)")
    parser.add_argument("--smoke", action="store_true",
                        help="a check of this script only: 20k target tokens, 40 test sentences, 100 resamples")
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    os.environ.setdefault("BOOK_CACHE", str(REPO / "_build" / "cache"))
    base = TranslatorConfig.for_profile("full")
    splits = load_splits(base)
    folder = default_cache_dir() / cache_key(base, splits)
    if not (folder / "model.safetensors").is_file():
        sys.exit(f"the default translator is not cached at {folder}: refusing to retrain it here")
    default_model, default_tokenizer, _, default_history = train_translator(base, device="cpu", progress=False)
    info = cached_training_info(folder)
    test_pairs = splits["test"][:40] if args.smoke else splits["test"]
    sources = [de for de, _ in test_pairs]
    references = [en for _, en in test_pairs]
    if args.smoke:
        args.bootstrap_samples = 100
    log("greedy decoding of the test split with the default model")
    default_outputs = translate_sentences(default_model, default_tokenizer, sources, beam_size=1, max_len=base.max_len)
    default_scores = corpus_scores(default_outputs, references)
    default_encoded = encode_pairs(default_tokenizer, splits["train"], base.max_len)
    budget = target_tokens(default_encoded) * base.epochs
    default_budget = budget
    if args.smoke:
        budget = 20_000
    default_summary = {
        "cache": str(folder), "config": base.to_dict(), "training_pairs": len(splits["train"]),
        "target_tokens_trained": default_budget, "train_seconds_cached": info.get("train_seconds"),
        "threads_cached": default_history.threads, "steps": default_history.steps[-1],
        "final_valid_loss": default_history.valid_loss[-1],
        "test_bleu": default_scores["bleu"], "test_chrf": default_scores["chrf"],
    }
    log(f"default: {json.dumps(default_summary)}")

    results = []
    for name in args.variant:
        config = variant_config(name, base)
        seed_everything(config.seed)
        added, counts = extra_pairs(name, splits)
        tokenizer = train_tokenizer(splits["train"] + added, config.vocab_size)
        keep = config.max_len - 1
        if added:   # drop added pairs that encode_pairs would truncate
            lengths = zip(tokenizer.encode_batch([de for de, _ in added], add_special_tokens=False),
                          tokenizer.encode_batch([en for _, en in added], add_special_tokens=False))
            added_fit = [pair for pair, (de, en) in zip(added, lengths) if len(de.ids) <= keep and len(en.ids) <= keep]
            counts["after_length_filter"] = len(added_fit)
            tokenizer = train_tokenizer(splits["train"] + added_fit, config.vocab_size)
            added = added_fit
        train_pairs = splits["train"] + added
        encoded = encode_pairs(tokenizer, train_pairs, config.max_len)
        valid_encoded = encode_pairs(tokenizer, splits["valid"], config.max_len)
        batches = make_batches(encoded, config.batch_size, shuffle=True, seed=config.seed)
        valid_batches = make_batches(valid_encoded, config.batch_size, shuffle=False)
        epoch_tokens = sum(batch.ntokens for batch in batches)

        budget_rule = "target tokens of the default's 15 epochs"
        throughput = None
        variant_budget = budget
        if name == "wide":
            log("measuring training throughput: default size against wide")
            throughput = measure_throughput({"default_size": base, "wide": config}, tokenizer.get_vocab_size(),
                                            batches, valid_batches)
            ratio = throughput["wide"] / throughput["default_size"]
            variant_budget = int(budget * ratio)
            budget_rule = ("wall time: the default's target tokens times the measured throughput ratio "
                           f"wide/default-size = {ratio:.3f}")
        full_passes, remainder = divmod(variant_budget, epoch_tokens)
        order = list(range(len(batches)))
        random.Random(config.seed + 1).shuffle(order)
        partial, filled = [], 0
        for index in order:
            if filled >= remainder:
                break
            partial.append(batches[index])
            filled += batches[index].ntokens
        log(f"{name}: {len(train_pairs)} training pairs, {epoch_tokens} target tokens per pass, "
            f"{full_passes} full passes + {len(partial)}/{len(batches)} batches, budget {variant_budget}")

        model = build_model(config, tokenizer.get_vocab_size())
        optimizer = make_optimizer(model)
        scheduler = make_scheduler(optimizer, config.d_model, config.warmup, config.lr_factor)
        common = dict(smoothing=config.smoothing, clip_norm=config.clip_norm, device="cpu",
                      optimizer=optimizer, scheduler=scheduler, progress=False)
        passes = [(batches, config.seed + p) for p in range(full_passes)] + ([(partial, 10_000 + config.seed)] if partial else [])
        valid_losses, trained = [], 0
        start = time.perf_counter()
        stopped_early = False
        for number, (pass_batches, seed) in enumerate(passes, start=1):
            elapsed = time.perf_counter() - start
            if args.max_train_seconds is not None and trained:
                estimate = elapsed / trained * sum(batch.ntokens for batch in pass_batches)
                if elapsed + estimate > args.max_train_seconds:
                    stopped_early = True
                    log(f"{name}: stopping before pass {number}: it would end after {args.max_train_seconds} s")
                    break
            history = fit(model, pass_batches, valid_batches, 1, seed=seed, **common)
            trained += sum(batch.ntokens for batch in pass_batches)
            valid_losses.append(history.valid_loss[-1])
            log(f"{name}: pass {number}/{len(passes)} valid loss {history.valid_loss[-1]:.3f} "
                f"({time.perf_counter() - start:.0f} s)")
        seconds = time.perf_counter() - start
        model.eval()
        outputs = translate_sentences(model, tokenizer, sources, beam_size=1, max_len=config.max_len)
        scores = corpus_scores(outputs, references)
        named = [("default", default_outputs), (name, outputs)]
        _, test = PairedTest(named, {"BLEU": BLEU(), "chrF": CHRF()}, [references], test_type="bs",
                             n_samples=args.bootstrap_samples)()
        result = {
            "variant": name,
            "config": config.to_dict(),
            "changed": {key: value for key, value in config.to_dict().items() if base.to_dict()[key] != value},
            "added_pairs": counts,
            "training_pairs": len(train_pairs),
            "budget_rule": budget_rule,
            "target_tokens_trained": trained,
            "stopped_early_by_max_train_seconds": stopped_early,
            "target_tokens_default": default_budget,
            "smoke": args.smoke,
            "target_tokens_per_pass": epoch_tokens,
            "passes": trained / epoch_tokens,
            "steps": scheduler.last_epoch,
            "train_seconds": seconds,
            "threads": torch.get_num_threads(),
            "throughput_tokens_per_s": throughput,
            "valid_loss_per_pass": valid_losses,
            "test_bleu": scores["bleu"],
            "test_chrf": scores["chrf"],
            "default": {"test_bleu": default_scores["bleu"], "test_chrf": default_scores["chrf"],
                        "target_tokens_trained": default_budget, "train_seconds_cached": info.get("train_seconds"),
                        "final_valid_loss": default_history.valid_loss[-1]},
            "p_value_bleu": test["BLEU"][1].p_value,
            "p_value_chrf": test["chrF2"][1].p_value,
            "bootstrap_samples": args.bootstrap_samples,
            "examples": [{"source": s, "reference": r, "default": d, name: o}
                         for s, r, d, o in list(zip(sources, references, default_outputs, outputs))[:5]],
        }
        print(json.dumps(result, ensure_ascii=False), flush=True)
        results.append(result)
        if args.out is not None:
            args.out.write_text(json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8")


if __name__ == "__main__":
    main()
