"""Checkpoints: one atomic file; a run killed at any point of a save resumes as if never stopped;
damaged, truncated and mismatched files are refused with the file's name."""
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import checkpoint_worker as worker
from transformer_book.common.checkpoints import (CheckpointError, atomic_write, load_checkpoint,
    read_checkpoint_metadata, remove_stale_temporaries, save_checkpoint)
from transformer_book.encoder_decoder.model import make_model
from transformer_book.encoder_decoder.training import make_optimizer, make_scheduler

WORKER = Path(worker.__file__)


def _trained_state(seed=0):
    model = worker.model(seed)
    optimizer = make_optimizer(model)
    scheduler = make_scheduler(optimizer, 16, 5)
    src, tgt = torch.randint(4, worker.VOCAB, (2, 5)), torch.randint(4, worker.VOCAB, (2, 4))
    for _ in range(3):
        optimizer.zero_grad()
        model(src, tgt).sum().backward()
        optimizer.step()
        scheduler.step()
    return model, optimizer, scheduler


def _fresh():
    model = worker.model(seed=1)
    optimizer = make_optimizer(model)
    return model, optimizer, make_scheduler(optimizer, 16, 5)


@pytest.fixture(scope="module")
def uninterrupted():
    return worker.run(None).state_dict()


# ------------------------------------------------------------------------------ one unit
def test_a_checkpoint_is_one_file_that_round_trips_everything(tmp_path):
    model, optimizer, scheduler = _trained_state()
    path = save_checkpoint(tmp_path / "ckpt.safetensors", model, optimizer, scheduler, step=3, extra={"note": [1, 2]})
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.safetensors"]
    other, other_opt, other_sched = _fresh()
    info = load_checkpoint(path, other, other_opt, other_sched)
    assert info["step"] == 3 and info["extra"] == {"note": [1, 2]} and info["resumable"]
    for (name, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        assert torch.equal(a, b), name
    assert other.generator.proj.weight is other.src_embed[0].lookup.weight   # still tied
    assert other_sched.last_epoch == 3 and other_opt.param_groups[0]["lr"] == optimizer.param_groups[0]["lr"]
    for key, value in other_opt.state_dict()["state"].items():
        assert torch.equal(value["exp_avg"], optimizer.state_dict()["state"][key]["exp_avg"])
    assert read_checkpoint_metadata(path)["step"] == 3


def test_saving_weights_only_replaces_the_whole_checkpoint(tmp_path):
    model, optimizer, scheduler = _trained_state()
    path = save_checkpoint(tmp_path / "c.safetensors", model, optimizer, scheduler, step=3)
    save_checkpoint(path, model, step=4)
    assert read_checkpoint_metadata(path)["resumable"] is False
    with pytest.raises(CheckpointError, match=r"c\.safetensors was saved without an optimizer"):
        load_checkpoint(path, *_fresh())
    load_checkpoint(path, worker.model())   # the weights load


def test_restoring_the_generator_repeats_the_same_draws(tmp_path):
    model, optimizer, _ = _trained_state()
    torch.manual_seed(7)
    path = save_checkpoint(tmp_path / "r.safetensors", model, optimizer)
    expected = torch.rand(5)
    torch.manual_seed(99)
    load_checkpoint(path, worker.model(), make_optimizer(worker.model()), restore_rng=True)
    assert torch.equal(torch.rand(5), expected)


# ------------------------------------------------------------------------------ killed mid-save
@pytest.mark.parametrize("point, save", [
    ("partial", 1),          # the first save dies half-written: nothing to resume from, start over
    ("partial", 2),          # half of the second save written: the first checkpoint is intact
    ("before_replace", 3),   # the third save written in full but not yet in place
    ("after_replace", 2),    # the second save in place, the process dies before returning
])
def test_a_run_killed_during_a_save_resumes_bit_identically(tmp_path, uninterrupted, point, save):
    path = tmp_path / "run.safetensors"
    done = subprocess.run([sys.executable, str(WORKER), str(path), point, str(save)],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == -9, done.stderr            # it really was killed
    leftovers = list(tmp_path.glob(".run.safetensors.*.tmp"))
    assert leftovers if point in ("partial", "before_replace") else not leftovers
    if path.exists():                                      # the previous or the new checkpoint, complete
        epoch = read_checkpoint_metadata(path)["extra"]["epoch"]
        assert epoch == (save if point == "after_replace" else save - 1)
    else:
        assert save == 1
    # Other initial weights, which must be replaced by the checkpoint's; with no checkpoint the
    # run starts over, from the same seed as the uninterrupted one.
    resumed = worker.run(path, seed=5 if path.exists() else 0)
    for name, tensor in uninterrupted.items():
        assert torch.equal(resumed.state_dict()[name], tensor), name
    assert not list(tmp_path.glob("*.tmp")) and not list(tmp_path.glob(".*.tmp"))   # cleaned up


def test_stale_temporaries_of_dead_writers_are_removed_and_live_ones_kept(tmp_path):
    from transformer_book.common.checkpoints import _HOST

    target = tmp_path / "f.bin"
    dead = int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)
    stale = tmp_path / f".f.bin.{_HOST}.{dead}.{'a' * 32}.tmp"
    live = tmp_path / f".f.bin.{_HOST}.{os.getppid()}.{'b' * 32}.tmp"
    other_host = tmp_path / f".f.bin.elsewhere.{dead}.{'c' * 32}.tmp"       # a shared file system
    other_file = tmp_path / f".f.bin.123.safetensors.{_HOST}.{os.getppid()}.{'d' * 32}.tmp"
    for path in (stale, live, other_host, other_file):
        path.write_bytes(b"half")
    assert remove_stale_temporaries(target) == [stale]
    assert live.exists() and other_host.exists() and other_file.exists() and not stale.exists()


def test_an_optimizer_that_does_not_fit_is_refused_before_the_model_changes(saved):
    model = worker.model(seed=3)
    two_groups = torch.optim.Adam([{"params": list(model.parameters())[:2]}, {"params": list(model.parameters())[2:]}])
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    with pytest.raises(CheckpointError, match="good.safetensors holds the state of another optimizer"):
        load_checkpoint(saved, model, two_groups)
    assert all(torch.equal(before[name], tensor) for name, tensor in model.state_dict().items())


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path):
    target = tmp_path / "file.txt"
    atomic_write(target, lambda tmp: tmp.write_text("old"))

    def crash(tmp):
        tmp.write_text("half")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, crash)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["file.txt"]


# ------------------------------------------------------------------------------ refused files
@pytest.fixture()
def saved(tmp_path):
    model, optimizer, scheduler = _trained_state()
    return save_checkpoint(tmp_path / "good.safetensors", model, optimizer, scheduler, step=3)


@pytest.mark.parametrize("keep", [0, 5, 100, -200, -1])
def test_a_truncated_file_is_refused_by_name(saved, keep):
    data = saved.read_bytes()
    saved.write_bytes(data[:keep] if keep >= 0 else data[:len(data) + keep])
    with pytest.raises(CheckpointError, match=r"good\.safetensors is (not a readable checkpoint|damaged)"):
        load_checkpoint(saved, worker.model())


@pytest.mark.parametrize("where", [0.5, 0.9, -1])
def test_a_flipped_byte_in_the_tensors_is_refused(saved, where):
    data = bytearray(saved.read_bytes())
    header = 8 + int.from_bytes(data[:8], "little")
    index = header + int((len(data) - header) * where) if where >= 0 else len(data) - 1
    data[index] ^= 0x10
    saved.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=r"good\.safetensors is damaged: its tensors do not match the checksum"):
        load_checkpoint(saved, worker.model())


def test_a_damaged_header_is_refused_by_name(saved):
    data = bytearray(saved.read_bytes())
    data[10] = ord("}")
    saved.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="good.safetensors"):
        read_checkpoint_metadata(saved)


@pytest.mark.parametrize("changes, expected", [
    (dict(h=4), "h=2 saved, 4 here"),                                  # same tensor shapes
    (dict(norm_first=True, final_norm=False), "norm_first=False saved, True here"),   # same shapes
    (dict(d_model=32), "d_model=16 saved, 32 here"),
])
def test_a_model_of_another_configuration_is_refused(saved, changes, expected):
    settings = dict(src_vocab=worker.VOCAB, N=1, d_model=16, d_ff=32, h=2, dropout=0.1, shared_vocab=True) | changes
    other = make_model(**settings)
    before = {name: tensor.clone() for name, tensor in other.state_dict().items()}
    with pytest.raises(CheckpointError, match=rf"good\.safetensors holds another model: .*{expected}"):
        load_checkpoint(saved, other)
    assert all(torch.equal(before[name], tensor) for name, tensor in other.state_dict().items())   # untouched


def test_check_config_false_still_refuses_tensors_that_do_not_fit(saved):
    load_checkpoint(saved, make_model(worker.VOCAB, N=1, d_model=16, d_ff=32, h=4, dropout=0.1, shared_vocab=True),
                    check_config=False)
    with pytest.raises(CheckpointError, match=r"does not fit this model: .*is \(24, 16\) in the file"):
        load_checkpoint(saved, make_model(worker.VOCAB, N=1, d_model=32, d_ff=32, h=2, shared_vocab=True),
                        check_config=False)


def test_other_files_and_missing_files_are_refused(tmp_path, saved):
    with pytest.raises(FileNotFoundError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "missing.safetensors", worker.model())
    with pytest.raises(CheckpointError, match="is not a file"):
        load_checkpoint(tmp_path, worker.model())
    from safetensors.torch import save_file

    save_file({"x": torch.zeros(2)}, tmp_path / "plain.safetensors")
    with pytest.raises(CheckpointError, match="plain.safetensors is not a checkpoint written by save_checkpoint"):
        load_checkpoint(tmp_path / "plain.safetensors", worker.model())


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(extra={"bad": object()}), TypeError, "JSON"),
    (dict(step=-1), ValueError, "step must be a non-negative integer"),
    (dict(step=True), ValueError, "step must be a non-negative integer"),
    (dict(scheduler=object()), ValueError, "a scheduler is saved with its optimizer"),
])
def test_bad_save_arguments_leave_the_previous_checkpoint_alone(saved, kwargs, error, match):
    before = saved.read_bytes()
    with pytest.raises(error, match=match):
        save_checkpoint(saved, worker.model(), **kwargs)
    assert saved.read_bytes() == before
    assert [p.name for p in saved.parent.iterdir()] == ["good.safetensors"]


def test_the_model_argument_must_be_a_module(saved):
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        save_checkpoint(saved, {"w": torch.zeros(1)})
    with pytest.raises(TypeError, match="model must be an nn.Module"):
        load_checkpoint(saved, {"w": torch.zeros(1)})
