"""Tests for transformer_book.training: the loss, the schedule, checkpoints and the loop."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from transformer_book.batching import PAD_ID, encode_pairs, make_batches, train_tokenizer
from transformer_book.data.numbers import number_pairs
from transformer_book.model import make_model
from transformer_book.training import (
    History,
    atomic_write,
    autocast_dtype,
    evaluate,
    fit,
    label_smoothed_loss,
    load_checkpoint,
    make_optimizer,
    make_scheduler,
    read_checkpoint_metadata,
    save_checkpoint,
    training_state_path,
    transformer_lr,
)


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
    assert torch.allclose(ours, ref, atol=1e-6)


def test_label_smoothed_loss_sum_and_flat_shapes():
    logits, target = _logits_and_target()
    flat = label_smoothed_loss(logits.reshape(-1, 11), target.reshape(-1), 0.1)
    assert torch.allclose(flat, label_smoothed_loss(logits, target, 0.1))
    total = label_smoothed_loss(logits, target, 0.1, reduction="sum")
    assert torch.allclose(total, flat * (target != PAD_ID).sum(), atol=1e-5)


def test_label_smoothed_loss_ignores_padding_positions():
    logits, target = _logits_and_target()
    changed = logits.clone()
    changed[target == PAD_ID] = torch.randn_like(changed[target == PAD_ID]) * 100
    assert torch.allclose(label_smoothed_loss(changed, target, 0.1), label_smoothed_loss(logits, target, 0.1))


def test_label_smoothed_loss_gradient_matches_cross_entropy():
    logits, target = _logits_and_target()
    ours_in = logits.clone().requires_grad_()
    ref_in = logits.clone().requires_grad_()
    label_smoothed_loss(ours_in, target, 0.2).backward()
    F.cross_entropy(ref_in.reshape(-1, 11), target.reshape(-1), label_smoothing=0.2, ignore_index=PAD_ID).backward()
    assert torch.allclose(ours_in.grad, ref_in.grad, atol=1e-6)


def test_label_smoothed_loss_minimum_is_the_smoothed_distribution():
    V, eps = 7, 0.3
    target = torch.tensor([2])
    q = torch.full((1, V), eps / V)
    q[0, 2] += 1 - eps
    at_q = label_smoothed_loss(q.log(), target, eps)
    entropy = -(q * q.log()).sum()
    assert torch.allclose(at_q, entropy, atol=1e-6)
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
    with pytest.raises(ValueError, match="positive"):
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


def test_checkpoint_round_trip_keeps_tied_weights(tmp_path):
    model = _tiny_model()
    optimizer = make_optimizer(model)
    scheduler = make_scheduler(optimizer, 16, 5)
    src, tgt = torch.randint(4, 40, (2, 5)), torch.randint(4, 40, (2, 4))
    for _ in range(3):
        optimizer.zero_grad()
        model(src, tgt).sum().backward()
        optimizer.step()
        scheduler.step()
    path = save_checkpoint(tmp_path / "ckpt.safetensors", model, optimizer, scheduler, step=3, extra={"note": [1, 2]})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt.safetensors", "ckpt.safetensors.train.pt"]

    other = _tiny_model(seed=1)
    other_opt = make_optimizer(other)
    other_sched = make_scheduler(other_opt, 16, 5)
    info = load_checkpoint(path, other, other_opt, other_sched)
    assert info["step"] == 3 and info["extra"] == {"note": [1, 2]}
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), name
    # still tied: one tensor for the embedding and the generator
    assert other.generator.proj.weight is other.src_embed[0].lookup.weight
    assert other_sched.last_epoch == 3 and other_opt.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    state = other_opt.state_dict()["state"]
    assert all(torch.equal(v["exp_avg"], optimizer.state_dict()["state"][k]["exp_avg"]) for k, v in state.items())
    assert read_checkpoint_metadata(path)["step"] == 3


def test_checkpoint_files_that_do_not_belong_together_are_refused(tmp_path):
    model = _tiny_model()
    optimizer = make_optimizer(model)
    first = save_checkpoint(tmp_path / "a.safetensors", model, optimizer, step=1)
    save_checkpoint(tmp_path / "b.safetensors", model, optimizer, step=2)
    training_state_path(tmp_path / "b.safetensors").replace(training_state_path(first))
    with pytest.raises(ValueError, match="does not belong"):
        load_checkpoint(first, _tiny_model(), make_optimizer(model))
    load_checkpoint(first, _tiny_model())  # the weights alone still load


def test_checkpoint_errors(tmp_path):
    model = _tiny_model()
    with pytest.raises(TypeError, match="JSON"):
        save_checkpoint(tmp_path / "x.safetensors", model, extra={"bad": object()})
    assert not any(tmp_path.iterdir())                      # nothing half-written is left
    path = save_checkpoint(tmp_path / "w.safetensors", model)
    with pytest.raises(FileNotFoundError, match="optimizer"):
        load_checkpoint(path, _tiny_model(), make_optimizer(model))
    with pytest.raises(FileNotFoundError):
        load_checkpoint(tmp_path / "missing.safetensors", model)
    with pytest.raises(RuntimeError):
        load_checkpoint(path, make_model(40, N=1, d_model=32, d_ff=32, h=2, shared_vocab=True))


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "file.txt"
    atomic_write(target, lambda tmp: tmp.write_text("old"))

    def crash(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]   # no temporary file left behind


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
    assert resumed.train_loss == pytest.approx(straight.train_loss, abs=1e-5)
    assert resumed.valid_loss == pytest.approx(straight.valid_loss, abs=1e-5)


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
