"""Part V on one device (transformer_book.scaling.accounting and single_device): the memory and FLOP
formulas against measurements (autograd's saved tensors, the optimizer's tensors, FlopCounterMode),
gradient accumulation and activation checkpointing against the plain step, and bad input.

Tolerances: byte and FLOP counts are integers and must be equal. Gradients from micro-batches are
sums of the same numbers in another order: float32 rounding, checked with assert_close."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from transformer_book.common.checks import assert_close
from transformer_book.gpt.model import GPT, GPTConfig
from transformer_book.gpt.training import make_adamw
from transformer_book.scaling.accounting import (gpt_activation_bytes, gpt_linear_weights, gpt_train_flops,
                                                 matmul_flops_per_second, measured_state_bytes,
                                                 saved_activation_bytes, state_bytes)
from transformer_book.scaling.single_device import accumulate_gradients, compiler_available, train_step

CONFIGS = [dict(n_layer=1, n_head=2, n_embd=8, bias=True), dict(n_layer=2, n_head=4, n_embd=32, bias=False),
           dict(n_layer=3, n_head=3, n_embd=24, bias=True, activation="gelu")]


def model_and_batch(batch=3, seq=24, seed=0, **sizes):
    torch.manual_seed(seed)
    config = GPTConfig(vocab_size=50, block_size=32, **sizes)
    x = torch.randint(0, 50, (batch, seq), generator=torch.Generator().manual_seed(seed + 1))
    return GPT(config), config, x


def loss_of(model, x):
    inputs, targets = x[:, :-1].contiguous(), x[:, 1:].contiguous()      # two tensors, as a training loop has
    return F.cross_entropy(model(inputs).flatten(0, 1), targets.flatten())


@pytest.mark.parametrize("sizes", CONFIGS)
@pytest.mark.parametrize("batch, seq", [(2, 16), (3, 25)])
def test_activation_formula_equals_what_autograd_saves(sizes, batch, seq):
    model, config, x = model_and_batch(batch, seq, **sizes)
    measured = saved_activation_bytes(model, lambda: loss_of(model, x))
    assert measured == gpt_activation_bytes(config, batch, seq - 1)["total"]


def test_step_by_step_attention_saves_the_score_matrices():
    model, config, x = model_and_batch(2, 33, **CONFIGS[1])
    fused = saved_activation_bytes(model, lambda: loss_of(model, x))
    model.set_fused_attention(False)
    unfused = saved_activation_bytes(model.set_fused_attention(False), lambda: loss_of(model, x))
    # at least the scores and the weights: 2 matrices of B x H x T x T float32 per layer
    assert unfused - fused >= config.n_layer * 2 * 4 * 2 * config.n_head * 32 * 32


def test_activation_checkpointing_saves_less_and_changes_nothing():
    model, config, x = model_and_batch(2, 25, **CONFIGS[1])
    plain = saved_activation_bytes(model, lambda: loss_of(model, x))
    loss = loss_of(model, x)
    loss.backward()
    grads = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    model.set_activation_checkpointing(True)
    recomputed = saved_activation_bytes(model, lambda: loss_of(model, x))
    loss_again = loss_of(model, x)
    loss_again.backward()
    assert recomputed < plain - config.n_layer * gpt_activation_bytes(config, 2, 24)["per_block"] // 2
    assert loss_again.item() == loss.item()
    for before, p in zip(grads, model.parameters()):
        assert_close(p.grad, before, what="gradient with checkpointing")
    with pytest.raises(TypeError, match="enabled must be True or False"):
        model.set_activation_checkpointing(1)


@pytest.mark.parametrize("sizes", CONFIGS)
def test_train_flops_equal_the_flop_counter(sizes):
    model, config, x = model_and_batch(3, 25, **sizes)
    model.set_fused_attention(False)        # FlopCounterMode counts the step-by-step attention's products
    with FlopCounterMode(display=False) as counter:
        loss_of(model, x).backward()
    assert counter.get_total_flops() == gpt_train_flops(config, 3, 24)
    counts = {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}
    assert counts["aten.mm"] + counts.get("aten.addmm", 0) == gpt_train_flops(config, 3, 24, attention=False)
    assert gpt_linear_weights(config) == sum(m.weight.numel() for m in model.modules()
                                             if isinstance(m, torch.nn.Linear))


def test_state_formula_equals_the_tensors_after_an_adamw_step():
    model, config, x = model_and_batch(2, 17, **CONFIGS[1])
    optimizer = make_adamw(model, 1e-3)
    train_step(model, optimizer, x[:, :-1], x[:, 1:])
    assert measured_state_bytes(model, optimizer) == state_bytes(model)
    assert state_bytes(model)["optimizer"] == 2 * state_bytes(model)["parameters"]


@pytest.mark.parametrize("micro_batches", [2, 4])
def test_accumulated_gradients_equal_the_whole_batch(micro_batches):
    model, _, x = model_and_batch(4, 17, **CONFIGS[2])
    whole = accumulate_gradients(model, x[:, :-1], x[:, 1:])
    reference = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    parts = accumulate_gradients(model, x[:, :-1], x[:, 1:], micro_batches)
    assert_close(parts, whole, what="mean loss")
    for p, expected in zip(model.parameters(), reference):
        assert_close(p.grad, expected, what=f"gradient from {micro_batches} micro-batches")


def test_accumulation_without_the_weights_would_fail():
    """The check above can fail: summing the micro-batch losses unweighted doubles the gradients."""
    model, _, x = model_and_batch(4, 17, **CONFIGS[2])
    accumulate_gradients(model, x[:, :-1], x[:, 1:])
    reference = [p.grad.clone() for p in model.parameters()]
    model.zero_grad(set_to_none=True)
    for part in x.chunk(2):
        loss_of(model, part).backward()
    assert not all(torch.allclose(p.grad, r, rtol=1e-4, atol=1e-7) for p, r in zip(model.parameters(), reference))


def test_bfloat16_autocast_step_stays_close_to_float32():
    model, _, x = model_and_batch(2, 17, **CONFIGS[1])
    fp32 = accumulate_gradients(model, x[:, :-1], x[:, 1:]).item()
    bf16 = accumulate_gradients(model, x[:, :-1], x[:, 1:], dtype=torch.bfloat16).item()
    assert abs(bf16 - fp32) < 0.05 * fp32          # bfloat16 keeps 8 bits of mantissa: 2^-8 relative


def test_bad_input_is_refused_with_the_argument_named():
    model, config, x = model_and_batch(3, 17, **CONFIGS[0])
    with pytest.raises(ValueError, match="micro_batches=2 must divide the batch of 3"):
        accumulate_gradients(model, x[:, :-1], x[:, 1:], 2)
    with pytest.raises(TypeError, match="x must be a \\(B, T\\) tensor"):
        accumulate_gradients(model, x[:, :-1].float(), x[:, 1:])
    with pytest.raises(ValueError, match="same shape"):
        accumulate_gradients(model, x[:, :-1], x[:, 2:])
    with pytest.raises(TypeError, match="optimizer must be a torch.optim.Optimizer"):
        train_step(model, "adamw", x[:, :-1], x[:, 1:])
    with pytest.raises(ValueError, match="seq=40 is longer than block_size=32"):
        gpt_activation_bytes(config, 1, 40)
    with pytest.raises(TypeError, match="config must be a GPTConfig"):
        gpt_train_flops({"n_layer": 2}, 1, 8)
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        state_bytes("model")
    with pytest.raises(TypeError, match="forward must be a function"):
        saved_activation_bytes(model, 3)


def test_the_measured_peak_and_the_compiler_check():
    rate = matmul_flops_per_second(size=128, repeats=3)
    assert math.isfinite(rate) and rate > 1e6
    assert isinstance(compiler_available(), bool)


def test_float16_with_a_gradient_scaler_trains_like_float32():
    """The GPU recipe for float16 (autocast and torch.amp.GradScaler) run on the CPU: the scaler
    multiplies the loss by 65,536 before the backward pass and train_step unscales before clipping."""
    losses = {}
    for name, dtype, scaler in (("float32", None, None), ("float16", torch.float16, torch.amp.GradScaler("cpu"))):
        model, _, x = model_and_batch(4, 33, **CONFIGS[1])
        optimizer = make_adamw(model, 1e-3, fused=False)
        losses[name] = [train_step(model, optimizer, x[:, :-1], x[:, 1:], dtype=dtype, scaler=scaler)
                        for _ in range(4)]
        if scaler is not None:
            assert scaler.get_scale() == 65536.0                  # no overflow, so never reduced
    assert losses["float16"][-1] < losses["float16"][0]
    assert losses["float16"] == pytest.approx(losses["float32"], rel=0.02)
