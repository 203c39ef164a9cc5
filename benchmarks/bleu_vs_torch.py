"""Translation quality of the book's encoder-decoder against ``nn.Transformer``, same budget.

The pipeline is the book's (chapter 11): the Ding training split, the shared BPE vocabulary,
length-grouped batches, ``training.fit`` (label smoothing, the paper's schedule, Adam, clipping),
then greedy decoding and BLEU/chrF with sacrebleu on the test split. The only change in the second
run is the model: ``nn.Transformer``'s encoder and decoder stacks in place of the book's, with the
same embeddings, generator, starting weights (copied by ``parity.to_torch_transformer``) and
dropout. Both runs see the same batches in the same order for the same number of epochs, with the
same thread count.

Prints JSON: validation loss, BLEU and chrF of each, and the training time of each (the time is
indicative only; ``benchmarks/train_throughput.py`` measures speed properly).

    .venv/bin/python benchmarks/bleu_vs_torch.py [--epochs 4] [--threads 1] [--test-sentences 793]
"""
from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import time

import torch
from torch import nn

from transformer_book.encoder_decoder.evaluation import corpus_scores, translate_sentences
from transformer_book.encoder_decoder.model import EncoderDecoder
from transformer_book.encoder_decoder.parity import to_torch_transformer
from transformer_book.encoder_decoder.training import fit
from transformer_book.encoder_decoder.translate import (TranslatorConfig, build_model, make_split_batches,
    prepare_data)
from transformer_book.common.utils import seed_everything


class TorchEncoderDecoder(nn.Module):
    """``nn.Transformer``'s stacks behind the book's ``EncoderDecoder`` interface (``encode``,
    ``decode``, ``generator``, ``source_mask``, ``pad_id``), so that ``fit`` and the decoders run
    on it unchanged. Embeddings and generator are the book model's (a deep copy, still tied)."""

    def __init__(self, book: EncoderDecoder, dropout: float) -> None:
        super().__init__()
        book = copy.deepcopy(book)
        self.src_embed, self.tgt_embed, self.generator = book.src_embed, book.tgt_embed, book.generator
        self.pad_id = book.pad_id
        copied = to_torch_transformer(book)                   # same weights, dropout 0
        layer = copied.encoder.layers[0]
        self.transformer = nn.Transformer(
            d_model=copied.d_model, nhead=copied.nhead, num_encoder_layers=len(copied.encoder.layers),
            num_decoder_layers=len(copied.decoder.layers), dim_feedforward=layer.linear1.out_features,
            dropout=dropout, batch_first=True, norm_first=layer.norm_first,
        )
        self.transformer.load_state_dict(copied.state_dict())

    def source_mask(self, src: torch.Tensor) -> torch.Tensor:
        """``(B, 1, 1, S)``, True where a source token is real (the book's convention)."""
        return (src != self.pad_id)[:, None, None, :]

    def encode(self, src: torch.Tensor, src_mask: torch.Tensor | None = None) -> torch.Tensor:
        src_mask = self.source_mask(src) if src_mask is None else src_mask
        padding = ~src_mask[:, 0, 0, :]                       # (B, S), True = padding
        return self.transformer.encoder(self.src_embed(src), src_key_padding_mask=padding)   # (B, S, D)

    def decode(self, memory: torch.Tensor, src_mask: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        length = tgt.shape[1]
        blocked = torch.ones(length, length, dtype=torch.bool, device=tgt.device).triu(1)
        return self.transformer.decoder(
            self.tgt_embed(tgt), memory, tgt_mask=blocked, tgt_is_causal=True,
            tgt_key_padding_mask=tgt == self.pad_id, memory_key_padding_mask=~src_mask[:, 0, 0, :],
        )                                                     # (B, T, D)

    def forward(self, src: torch.Tensor, tgt: torch.Tensor) -> torch.Tensor:
        src_mask = self.source_mask(src)
        return self.generator(self.decode(self.encode(src, src_mask), src_mask, tgt))   # (B, T, V)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=4, help="the budget: epochs of the full profile's data")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--test-sentences", type=int, default=None, help="default: the whole test split")
    parser.add_argument("--max-train-pairs", type=int, default=None, help="a subset, for a smoke test")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    config = dataclasses.replace(TranslatorConfig.for_profile("full"), epochs=args.epochs,
                                 max_train_pairs=args.max_train_pairs)
    tokenizer, splits, encoded = prepare_data(config)
    batches = make_split_batches(config, encoded)
    book = build_model(config, tokenizer.get_vocab_size())
    models = {"book": book, "torch": TorchEncoderDecoder(book, config.dropout)}
    test = splits["test"][: args.test_sentences]
    sources, references = [de for de, _ in test], [en for _, en in test]

    results = {}
    for name, model in models.items():
        start = time.perf_counter()
        history = fit(
            model, batches["train"], batches["valid"], config.epochs, warmup=config.warmup,
            factor=config.lr_factor, d_model=config.d_model, smoothing=config.smoothing,
            clip_norm=config.clip_norm, device="cpu", seed=config.seed, progress=False,
        )
        seconds = time.perf_counter() - start
        seed_everything(0)
        outputs = translate_sentences(model.eval(), tokenizer, sources, beam_size=1, max_len=config.max_len)
        results[name] = {
            **corpus_scores(outputs, references),
            "valid_loss": history.valid_loss,
            "train_seconds": seconds,
            "first_outputs": outputs[:3],
        }
    print(json.dumps({
        "benchmark": "BLEU/chrF on the Ding test split, greedy decoding: book model vs nn.Transformer stacks",
        "threads": args.threads,
        "torch": torch.__version__,
        "config": config.to_dict(),
        "test_sentences": len(test),
        "results": results,
        "bleu_difference_book_minus_torch": results["book"]["bleu"] - results["torch"]["bleu"],
        "target": "book BLEU >= torch BLEU",
    }, indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
