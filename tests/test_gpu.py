"""The three model families on every device there is: the CPU always, and a CUDA GPU when there is one.

For the encoder-decoder (``make_model``), BERT (``BertForMaskedLM``) and GPT, on each device:

- the forward pass of a tiny model gives the logits that the same weights give on the CPU in
  float32 (on CUDA within a looser tolerance, since matrix products may run in TF32 there);
- a few training steps with the package's own loops, under the mixed precision the package picks
  for the device (``training.autocast_dtype``: bfloat16 or float16 on CUDA, float32 on the CPU),
  keep the loss finite, lower it on a fixed batch, and change the weights;
- greedy decoding (the translator) and generation with a KV cache (GPT) return token ids on the
  device.

On a machine without CUDA the ``cuda`` cases are skipped ("no CUDA device"); the ``cpu`` cases run
in ``make test`` as well, in a few seconds on one thread. ``make gpu-check`` runs this file and
``benchmarks/gpu_check.py``.
"""
from __future__ import annotations

import copy
import math
from contextlib import nullcontext

import pytest
import torch

from transformer_book.encoder_decoder.batching import BOS_ID, EOS_ID, PAD_ID, make_batches
from transformer_book.bert.model import BertConfig, BertForMaskedLM
from transformer_book.bert.pretraining import IGNORE_INDEX, mask_tokens, mlm_loss, train_steps
from transformer_book.common.checks import assert_close
from transformer_book.encoder_decoder.decoding import greedy_decode
from transformer_book.gpt.generation import generate
from transformer_book.gpt.model import GPT, GPTConfig
from transformer_book.gpt.training import make_adamw, train_step
from transformer_book.encoder_decoder.model import make_model
from transformer_book.common.training import autocast_dtype
from transformer_book.encoder_decoder.training import evaluate, fit

DEVICES = [
    "cpu",
    pytest.param(
        "cuda", marks=pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
    ),
]

VOCAB = 48


def tolerance(device: str) -> dict[str, float]:
    """float32 on the CPU against float32 on ``device``: the default rule on the CPU; on CUDA a
    looser one, because cuBLAS may use TF32 (10 mantissa bits) and other summation orders."""
    return {"rtol": 1e-3, "scale": 1e-4} if device == "cuda" else {}


def autocast(device: str):
    """``torch.autocast`` with the dtype the package picks for ``device``, or nothing (float32)."""
    dtype = autocast_dtype(device)
    return torch.autocast(torch.device(device).type, dtype=dtype) if dtype is not None else nullcontext()


def snapshot(model: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().float().cpu().clone() for p in model.parameters()]


def changed(before: list[torch.Tensor], model: torch.nn.Module) -> bool:
    return any(not torch.equal(old, new.detach().float().cpu()) for old, new in zip(before, model.parameters()))


def on_device(model: torch.nn.Module, device: str) -> torch.nn.Module:
    """A copy of ``model`` on ``device`` (``deepcopy`` keeps tied weights tied)."""
    return copy.deepcopy(model).to(device)


def test_autocast_dtype_for_each_device():
    assert autocast_dtype("cpu") is None
    if torch.cuda.is_available():
        expected = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        assert autocast_dtype("cuda") == expected


# ---------------------------------------------------------------------------------------------
# The encoder-decoder
# ---------------------------------------------------------------------------------------------
def tiny_translator() -> torch.nn.Module:
    torch.manual_seed(0)
    return make_model(VOCAB, N=2, d_model=32, d_ff=64, h=4, dropout=0.0).eval()


def copy_task_pairs(count: int, seed: int = 0) -> list[tuple[list[int], list[int]]]:
    """Encoded pairs (source ``tokens + EOS``, target ``BOS + tokens + EOS``) whose target is
    the source: something a tiny model starts learning in a few steps."""
    generator = torch.Generator().manual_seed(seed)
    pairs = []
    for _ in range(count):
        length = int(torch.randint(3, 8, (1,), generator=generator))
        tokens = torch.randint(4, VOCAB, (length,), generator=generator).tolist()
        pairs.append((tokens + [EOS_ID], [BOS_ID] + tokens + [EOS_ID]))
    return pairs


def padded_sources() -> torch.Tensor:
    src = torch.randint(4, VOCAB, (3, 7), generator=torch.Generator().manual_seed(1))
    src[:, -1] = EOS_ID
    src[1, 4:] = PAD_ID       # a shorter sentence: its padding must be masked on every device
    src[1, 3] = EOS_ID
    return src


@pytest.mark.parametrize("device", DEVICES)
def test_translator_forward_matches_the_cpu(device):
    model = tiny_translator()
    src = padded_sources()                                                  # (3, 7)
    tgt = torch.randint(4, VOCAB, (3, 5), generator=torch.Generator().manual_seed(2))
    tgt[:, 0] = BOS_ID
    with torch.no_grad():
        expected = model(src, tgt)                                          # (3, 5, V) on the CPU
        actual = on_device(model, device)(src.to(device), tgt.to(device))
    assert actual.device.type == device and actual.dtype == torch.float32
    assert_close(actual.cpu(), expected, what=f"translator logits on {device}", **tolerance(device))


@pytest.mark.parametrize("device", DEVICES)
def test_translator_fit_with_mixed_precision(device):
    model = tiny_translator()
    before = snapshot(model)
    batches = make_batches(copy_task_pairs(48), batch_size=16, seed=0)     # 3 batches, 12 steps
    untrained = evaluate(model, batches[:1], smoothing=0.1)["loss"]        # float32, on the CPU
    history = fit(model, batches, batches[:1], epochs=4, warmup=8, factor=2.0, device=device,
                  progress=False)                                           # amp=None: the package's choice
    assert history.device.startswith(device)
    assert next(model.parameters()).device.type == device
    assert all(math.isfinite(loss) for loss in history.train_loss + history.valid_loss), history.train_loss
    assert history.valid_loss[-1] < untrained - 0.2, (untrained, history.valid_loss)
    assert changed(before, model)


@pytest.mark.parametrize("device", DEVICES)
def test_greedy_decoding_on_the_device(device):
    model = on_device(tiny_translator(), device)
    src = padded_sources().to(device)
    with autocast(device):
        ids = greedy_decode(model, src, max_len=6)
    assert ids.device.type == device and ids.dtype == torch.long
    assert ids.shape[0] == src.shape[0] and 1 <= ids.shape[1] <= 6
    assert bool(((ids >= 0) & (ids < VOCAB)).all())
    assert not bool((ids[:, 0] == PAD_ID).any())      # the first token is never padding


# ---------------------------------------------------------------------------------------------
# BERT
# ---------------------------------------------------------------------------------------------
def tiny_bert() -> BertForMaskedLM:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=16,
                        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertForMaskedLM(config).eval()


def bert_batch() -> tuple[torch.Tensor, torch.Tensor]:
    """``input_ids`` ``(4, 12)`` as ``[CLS] tokens [SEP]`` with padding, and their attention mask."""
    generator = torch.Generator().manual_seed(3)
    ids = torch.randint(5, VOCAB, (4, 12), generator=generator)
    ids[:, 0] = 2                                          # [CLS]
    lengths = [12, 9, 7, 12]
    mask = torch.zeros_like(ids)
    for row, length in enumerate(lengths):
        ids[row, length - 1] = 3                           # [SEP]
        ids[row, length:] = 0                              # [PAD]
        mask[row, :length] = 1
    return ids, mask


@pytest.mark.parametrize("device", DEVICES)
def test_bert_forward_matches_the_cpu(device):
    model = tiny_bert()
    ids, mask = bert_batch()
    with torch.no_grad():
        expected = model(ids, attention_mask=mask)                          # (4, 12, V)
        actual = on_device(model, device)(ids.to(device), attention_mask=mask.to(device))
    assert actual.device.type == device and actual.dtype == torch.float32
    real = mask.bool()                                      # padded positions' outputs mean nothing
    assert_close(actual.cpu()[real], expected[real], what=f"BERT logits on {device}", **tolerance(device))


@pytest.mark.parametrize("device", DEVICES)
def test_bert_masked_lm_steps_with_mixed_precision(device):
    model = tiny_bert().to(device)
    before = snapshot(model)
    ids, mask = bert_batch()
    inputs, labels = mask_tokens(ids, VOCAB, probability=0.3, generator=torch.Generator().manual_seed(4))
    assert bool((labels != IGNORE_INDEX).any())
    inputs, labels, mask = inputs.to(device), labels.to(device), mask.to(device)

    def loss_of_batch(step: int) -> torch.Tensor:       # one fixed batch: the loss must fall on it
        with autocast(device):
            return mlm_loss(model, inputs, labels, attention_mask=mask)

    log = train_steps(model, loss_of_batch, total_steps=8, lr=3e-3, warmup_fraction=0.0, progress=False)
    assert all(math.isfinite(loss) for loss in log.loss), log.loss
    assert log.loss[-1] < log.loss[0], log.loss
    assert next(model.parameters()).device.type == device
    assert changed(before, model)


# ---------------------------------------------------------------------------------------------
# GPT
# ---------------------------------------------------------------------------------------------
def tiny_gpt() -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(vocab_size=VOCAB, block_size=24, n_layer=2, n_head=4, n_embd=32)).eval()


@pytest.mark.parametrize("device", DEVICES)
def test_gpt_forward_matches_the_cpu(device):
    model = tiny_gpt()
    idx = torch.randint(0, VOCAB, (3, 16), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        expected = model(idx)                                               # (3, 16, V)
        actual = on_device(model, device)(idx.to(device))
    assert actual.device.type == device and actual.dtype == torch.float32
    assert_close(actual.cpu(), expected, what=f"GPT logits on {device}", **tolerance(device))


@pytest.mark.parametrize("device", DEVICES)
def test_gpt_train_steps_with_mixed_precision(device):
    model = tiny_gpt().to(device).train()
    before = snapshot(model)
    tokens = torch.randint(0, VOCAB, (4, 17), generator=torch.Generator().manual_seed(6))
    x, y = tokens[:, :-1].to(device), tokens[:, 1:].to(device)            # one fixed batch (4, 16)
    optimizer = make_adamw(model, lr=3e-3)
    losses = []
    for _ in range(8):
        with autocast(device):       # train_step runs the backward pass too; autocast only casts the forward ops
            losses.append(float(train_step(model, optimizer, x, y, lr=3e-3, grad_clip=1.0)))
    assert all(math.isfinite(loss) for loss in losses), losses
    assert losses[-1] < losses[0], losses
    assert changed(before, model)


@pytest.mark.parametrize("device", DEVICES)
def test_gpt_generate_with_the_kv_cache_on_the_device(device):
    model = on_device(tiny_gpt(), device)
    prompt = torch.randint(0, VOCAB, (2, 5), generator=torch.Generator().manual_seed(7)).to(device)
    out = generate(model, prompt, 8, greedy=True, use_cache=True, return_logits=True)
    assert out.tokens.device.type == device and out.tokens.dtype == torch.long
    assert out.tokens.shape == (2, 13) and torch.equal(out.tokens[:, :5], prompt)
    # The cached logits of each step are those of the full forward pass over the same tokens.
    with torch.no_grad():
        full = model(out.tokens[:, :-1])[:, 4:]                             # (2, 8, V)
    assert_close(out.logits, full, what=f"cached against full logits on {device}", **tolerance(device))
    # Under the device's autocast (what a reader on a GPU runs), generation still gives ids there.
    with autocast(device):
        sampled = generate(model, prompt, 4, temperature=0.8, top_k=10,
                           generator=torch.Generator(device).manual_seed(0)).tokens
    assert sampled.device.type == device and sampled.shape == (2, 9)
    assert bool(((sampled >= 0) & (sampled < VOCAB)).all())
