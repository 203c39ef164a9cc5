"""Part V with two processes (transformer_book.scaling.distributed and train): DDP and FSDP2 over
gloo on the CPU, launched by torchrun, against one process with the double batch; a broken DDP
(no gradient all-reduce) that the same check catches; a distributed checkpoint written by two
ranks and resumed by one; the sampler's shards.

Tolerance: the two-rank runs average two half-batch gradients where the one-process run takes the
mean over the whole batch, so they differ by float32 rounding; AdamW divides each step by the root
of the squared-gradient average, which magnifies rounding where a gradient is near zero. Measured
on these machines after 6 steps at lr 3e-3: at most 4e-5 on parameters of size up to 1. The test
allows 1e-3 (25 times that); skipping the all-reduce moves parameters by about 3e-2."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import torch
from safetensors.torch import load_file

from transformer_book.scaling.distributed import (DistributedRun, load_distributed_checkpoint, shard_indices,
                                                  wrap_model)
from transformer_book.scaling.train import RunConfig, train

PARAMETER_TOLERANCE = 1e-3
STEPS, BATCH = 6, 4


def launch(folder, name: str, *args: str) -> tuple[dict, dict[str, torch.Tensor]]:
    """torchrun with 2 CPU processes on a free port; the run's record and final parameters."""
    out, params = folder / f"{name}.json", folder / f"{name}.safetensors"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "transformer_book.scaling.train", "--steps", str(STEPS), "--batch-per-rank", str(BATCH),
               *args, "--out", str(out), "--params-out", str(params)]
    result = subprocess.run(command, env={**os.environ, "OMP_NUM_THREADS": "1"}, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return json.loads(out.read_text()), load_file(str(params))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("distributed")
    single = train(RunConfig(steps=STEPS, batch_per_rank=2 * BATCH))
    resumed_at = 3
    return {
        "single": single,
        "ddp": launch(folder, "ddp", "--strategy", "ddp"),
        "broken": launch(folder, "broken", "--strategy", "ddp", "--skip-allreduce"),
        "fsdp": launch(folder, "fsdp", "--strategy", "fsdp", "--save-at", str(resumed_at),
                       "--checkpoint", str(folder / "checkpoint")),
        "resumed": train(RunConfig(steps=STEPS, batch_per_rank=2 * BATCH, resume=str(folder / "checkpoint"))),
        "resumed_at": resumed_at,
    }


def largest_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    assert a.keys() == b.keys()
    return max((a[name] - b[name]).abs().max().item() for name in a)


def test_two_ddp_ranks_reach_the_parameters_of_one_process_with_the_double_batch(runs):
    (single, single_params), (ddp, ddp_params) = runs["single"], runs["ddp"]
    assert ddp["world_size"] == 2 and single["world_size"] == 1
    assert largest_difference(ddp_params, single_params) < PARAMETER_TOLERANCE
    assert ddp["loss"] == pytest.approx(single["loss"], rel=1e-5)
    assert largest_difference(ddp_params, runs["fsdp"][1]) < PARAMETER_TOLERANCE


def test_a_rank_that_skips_the_gradient_all_reduce_fails_the_same_check(runs):
    (_, single_params), (broken, broken_params) = runs["single"], runs["broken"]
    assert largest_difference(broken_params, single_params) > 10 * PARAMETER_TOLERANCE
    assert broken["loss"][0] == pytest.approx(runs["single"][0]["loss"][0], rel=1e-5)   # same start
    assert broken["loss"][1:] != pytest.approx(runs["single"][0]["loss"][1:], rel=1e-4)


def test_fsdp_gives_ddps_losses_with_half_the_state_on_each_rank(runs):
    (ddp, _), (fsdp, _) = runs["ddp"], runs["fsdp"]
    assert fsdp["loss"] == pytest.approx(ddp["loss"], rel=1e-5)
    for part in ("parameters", "gradients", "optimizer"):
        assert fsdp["state_bytes"][part] * 2 == ddp["state_bytes"][part], part   # sizes divide by 2 here
    assert ddp["state_bytes"]["optimizer"] == 2 * ddp["state_bytes"]["parameters"]   # AdamW: two moments


def test_a_checkpoint_of_two_ranks_resumes_on_one_and_continues_exactly(runs):
    (fsdp, fsdp_params), (resumed, resumed_params) = runs["fsdp"], runs["resumed"]
    start = runs["resumed_at"]
    assert resumed["start"] == start and len(resumed["loss"]) == STEPS - start
    assert resumed["loss"] == pytest.approx(fsdp["loss"][start:], rel=1e-5)
    assert largest_difference(resumed_params, fsdp_params) < PARAMETER_TOLERANCE


def test_the_shards_are_disjoint_equal_and_cover_the_permutation():
    n = 103
    whole = shard_indices(n, DistributedRun())
    shards = [shard_indices(n, DistributedRun(rank=r, world_size=2)) for r in range(2)]
    assert sorted(whole) == list(range(n))
    assert len(shards[0]) == len(shards[1]) == n // 2
    assert not set(shards[0]) & set(shards[1])
    for step in range(n // 2 // 5):      # a step of 5 rows per rank sees the one-process step of 10 rows
        rows = shards[0][5 * step:5 * step + 5] + shards[1][5 * step:5 * step + 5]
        assert sorted(rows) == sorted(whole[10 * step:10 * step + 10])
    assert shard_indices(n, DistributedRun(), epoch=1) != whole


def test_bad_runs_are_refused_with_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="strategy must be one of"):
        RunConfig(strategy="zero3")
    with pytest.raises(ValueError, match="skip_allreduce applies to strategy='ddp'"):
        RunConfig(skip_allreduce=True)
    with pytest.raises(ValueError, match="save_at and checkpoint go together"):
        RunConfig(save_at=2)
    with pytest.raises(RuntimeError, match="needs a process group: start with torchrun"):
        wrap_model(torch.nn.Linear(2, 2), "ddp", DistributedRun())
    with pytest.raises(ValueError, match="fewer than the 2 ranks"):
        shard_indices(1, DistributedRun(rank=0, world_size=2))
    with pytest.raises(FileNotFoundError, match="no distributed checkpoint"):
        model = torch.nn.Linear(2, 2)
        load_distributed_checkpoint(model, torch.optim.AdamW(model.parameters()), tmp_path)
    with pytest.raises(ValueError, match="need more than the"):
        train(RunConfig(steps=10_000, batch_per_rank=64))
