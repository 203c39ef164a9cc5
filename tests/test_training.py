"""Tests for transformer_book.encoder_decoder.training: the loss, the schedule and the loop (checkpoints:
tests/test_checkpoints.py)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from transformer_book.encoder_decoder.batching import PAD_ID, encode_pairs, make_batches, train_tokenizer
from transformer_book.data.numbers import number_pairs
from transformer_book.common.checks import assert_close
from transformer_book.common.checkpoints import read_checkpoint_metadata
from transformer_book.encoder_decoder.model import make_model
from transformer_book.encoder_decoder.training import History, evaluate, fit, label_smoothed_loss, make_optimizer, make_scheduler
from transformer_book.common.training import autocast_dtype
from transformer_book.common.schedules import transformer_lr


def _logits_and_target(B=3, T=6, V=11, seed=0):
    generator = torch.Generator().manual_seed(seed)
    logits = torch.randn(B, T, V, generator=generator) * 3
    target = torch.randint(1, V, (B, T), generator=generator)
    target[0, 4:] = PAD_ID
    target[2, 1:] = PAD_ID
    return logits, target


# ------------------------------------------------------------------------------ the loss
@pytest.mark.parametrize("smoothing", [0.0, 0.1, 0.35])
def test_label_smoothed_loss_matches_cross_entropy(smoothing):
    logits, target = _logits_and_target()
    ours = label_smoothed_loss(logits, target, smoothing)
    ref = F.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), target.reshape(-1), label_smoothing=smoothing, ignore_index=PAD_ID
    )
    assert_close(ours, ref)


def test_label_smoothed_loss_sum_and_flat_shapes():
    logits, target = _logits_and_target()
    flat = label_smoothed_loss(logits.reshape(-1, 11), target.reshape(-1), 0.1)
    assert_close(flat, label_smoothed_loss(logits, target, 0.1))
    total = label_smoothed_loss(logits, target, 0.1, reduction="sum")
    assert_close(total, flat * (target != PAD_ID).sum())


def test_label_smoothed_loss_ignores_padding_positions():
    logits, target = _logits_and_target()
    changed = logits.clone()
    changed[target == PAD_ID] = torch.randn_like(changed[target == PAD_ID]) * 100
    assert_close(label_smoothed_loss(changed, target, 0.1), label_smoothed_loss(logits, target, 0.1))


def test_label_smoothed_loss_gradient_matches_cross_entropy():
    logits, target = _logits_and_target()
    ours_in = logits.clone().requires_grad_()
    ref_in = logits.clone().requires_grad_()
    label_smoothed_loss(ours_in, target, 0.2).backward()
    F.cross_entropy(ref_in.reshape(-1, 11), target.reshape(-1), label_smoothing=0.2, ignore_index=PAD_ID).backward()
    assert_close(ours_in.grad, ref_in.grad)


def test_label_smoothed_loss_minimum_is_the_smoothed_distribution():
    V, eps = 7, 0.3
    target = torch.tensor([2])
    q = torch.full((1, V), eps / V)
    q[0, 2] += 1 - eps
    at_q = label_smoothed_loss(q.log(), target, eps)
    entropy = -(q * q.log()).sum()
    assert_close(at_q, entropy)
    one_hot = torch.full((1, V), -30.0)
    one_hot[0, 2] = 30.0
    assert label_smoothed_loss(one_hot, target, eps) > at_q + 1.0  # overconfidence is punished


def test_label_smoothed_loss_computes_in_float32_for_bf16_logits():
    logits, target = _logits_and_target()
    loss = label_smoothed_loss(logits.bfloat16(), target, 0.1)
    assert loss.dtype == torch.float32
    assert abs(loss.item() - label_smoothed_loss(logits, target, 0.1).item()) < 0.05


def test_label_smoothed_loss_all_padding_is_nan_and_bad_input_raises():
    logits, target = _logits_and_target()
    assert math.isnan(label_smoothed_loss(logits, torch.zeros_like(target), 0.1).item())
    with pytest.raises(ValueError, match="smoothing"):
        label_smoothed_loss(logits, target, 1.0)
    with pytest.raises(ValueError, match="shape"):
        label_smoothed_loss(logits, target[:, :-1], 0.1)
    with pytest.raises(TypeError, match="integer"):
        label_smoothed_loss(logits, target.float(), 0.1)
    with pytest.raises(ValueError, match="reduction"):
        label_smoothed_loss(logits, target, 0.1, reduction="none")


# ------------------------------------------------------------------------------ the schedule
def test_transformer_lr_shape_of_the_schedule():
    d_model, warmup = 512, 4000
    lr = lambda step: transformer_lr(step, d_model, warmup)  # noqa: E731
    assert math.isclose(lr(2), 2 * lr(1))                                   # linear warm-up
    assert math.isclose(lr(warmup), (d_model * warmup) ** -0.5)             # the peak
    assert lr(warmup) > lr(warmup - 1) and lr(warmup) > lr(warmup + 1)
    assert math.isclose(lr(4 * warmup), lr(warmup) / 2)                     # 1/sqrt(step) decay
    assert math.isclose(transformer_lr(10, d_model, warmup, factor=2.0), 2 * lr(10))
    with pytest.raises(ValueError, match="from 1"):
        lr(0)
    with pytest.raises(ValueError, match="warmup must be an integer >= 1"):
        transformer_lr(1, 512, 0)


def test_optimizer_and_scheduler_follow_the_paper():
    model = torch.nn.Linear(3, 2)
    optimizer = make_optimizer(model)
    group = optimizer.param_groups[0]
    assert group["betas"] == (0.9, 0.98) and group["eps"] == 1e-9
    scheduler = make_scheduler(optimizer, d_model=64, warmup=10)
    for update in range(1, 30):
        assert math.isclose(group["lr"], transformer_lr(update, 64, 10))   # the rate update n uses
        model(torch.randn(4, 3)).sum().backward()
        optimizer.step()
        scheduler.step()
        assert scheduler.last_epoch == update
    with pytest.raises(ValueError):
        make_scheduler(optimizer, d_model=64, warmup=0)


# ------------------------------------------------------------------------------ checkpoints
def _tiny_model(vocab=40, seed=0):
    torch.manual_seed(seed)
    return make_model(vocab, N=1, d_model=16, d_ff=32, h=2, dropout=0.1, shared_vocab=True)


def test_autocast_dtype():
    assert autocast_dtype("cpu") is None
    assert autocast_dtype("cpu", amp=True) == torch.bfloat16
    assert autocast_dtype("cpu", amp=False) is None


# ------------------------------------------------------------------------------ the loop
@pytest.fixture(scope="module")
def number_batches():
    pairs = number_pairs(600, seed=0, max_value=999)
    tokenizer = train_tokenizer(pairs[:500], vocab_size=80)
    train = make_batches(encode_pairs(tokenizer, pairs[:500]), 50, shuffle=True, seed=0)
    valid = make_batches(encode_pairs(tokenizer, pairs[500:]), 50, shuffle=False)
    return tokenizer.get_vocab_size(), train, valid


def test_fit_learns_and_records_history(number_batches):
    vocab, train, valid = number_batches
    model = _tiny_model(vocab)
    before = evaluate(model, valid)
    history = fit(model, train, valid, epochs=3, warmup=20, factor=2.0, device="cpu", progress=False)
    assert len(history.train_loss) == len(history.steps) == len(history.lr) == 3 * len(train)
    assert history.steps == list(range(1, 3 * len(train) + 1))
    assert history.epochs == [1, 2, 3] and history.epoch_end_step[-1] == 3 * len(train)
    assert history.valid_loss[-1] < history.valid_loss[0] < before["loss"]
    assert all(nll < loss for nll, loss in zip(history.valid_nll, history.valid_loss))  # smoothing costs
    assert history.lr[0] == transformer_lr(1, 16, 20, 2.0)
    assert not model.training
    again = History.from_dict(history.to_dict())
    assert again == history


def test_fit_resumes_exactly_where_it_stopped(number_batches, tmp_path):
    vocab, train, valid = number_batches
    settings = dict(warmup=20, factor=2.0, device="cpu", progress=False, seed=3)
    straight = fit(_tiny_model(vocab), train, valid, epochs=3, **settings)

    path = tmp_path / "run.safetensors"
    torch.manual_seed(123)  # disturb the generator: resuming must restore it
    first = fit(_tiny_model(vocab), train, valid, epochs=2, checkpoint_path=path, **settings)
    assert read_checkpoint_metadata(path)["step"] == first.steps[-1] == 2 * len(train)
    torch.manual_seed(456)
    resumed_model = _tiny_model(vocab, seed=9)  # different weights: they must come from the checkpoint
    resumed = fit(resumed_model, train, valid, epochs=3, checkpoint_path=path, resume=True, **settings)
    assert resumed.steps == straight.steps
    assert resumed.steps[len(first.steps)] == first.steps[-1] + 1
    assert resumed.train_loss == straight.train_loss      # bit for bit: same weights, state and draws
    assert resumed.valid_loss == straight.valid_loss


def test_fit_rejects_bad_arguments(number_batches):
    vocab, train, valid = number_batches
    model = _tiny_model(vocab)
    with pytest.raises(ValueError, match="epochs"):
        fit(model, train, valid, epochs=0, progress=False)
    with pytest.raises(ValueError, match="batch"):
        fit(model, [], valid, epochs=1, progress=False)
    with pytest.raises(ValueError, match="checkpoint_path"):
        fit(model, train, valid, epochs=1, resume=True, progress=False)


def test_fit_stops_on_a_diverging_loss(number_batches):
    vocab, train, valid = number_batches
    with pytest.raises(FloatingPointError, match="learning rate"):
        fit(_tiny_model(vocab), train[:2], valid, epochs=1, warmup=1, factor=1e30, clip_norm=None,
            device="cpu", progress=False)


@pytest.mark.parametrize("kwargs, match", [
    (dict(epochs=0), "epochs must be an integer >= 1"),
    (dict(epochs=True), "epochs must be an integer >= 1"),
    (dict(clip_norm=-1.0), r"clip_norm must be in \(0"),
    (dict(clip_norm=0), r"clip_norm must be in \(0"),
    (dict(factor=-1.0), r"factor must be in \(0"),
    (dict(factor=0.0), r"factor must be in \(0"),
    (dict(warmup=0), "warmup must be an integer >= 1"),
    (dict(smoothing=1.0), r"smoothing must be in \[0, 1\)"),
    (dict(smoothing=float("nan")), "smoothing must be a finite number"),
    (dict(seed=-1), "seed must be an integer >= 0"),
    (dict(resume=True), "resume=True needs a checkpoint_path"),
])
def test_fit_refuses_bad_arguments_before_training(number_batches, kwargs, match):
    vocab, train, valid = number_batches
    model = _tiny_model(vocab)
    before = [p.clone() for p in model.parameters()]
    with pytest.raises(ValueError, match=match):
        fit(model, train, valid, **{"epochs": 1, "device": "cpu", "progress": False, **kwargs})
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_fit_refuses_batches_that_are_not_batches(number_batches):
    vocab, train, valid = number_batches
    with pytest.raises(TypeError, match="train_batches must be a sequence of Batch"):
        fit(_tiny_model(vocab), [(1, 2)], valid, 1, device="cpu", progress=False)
