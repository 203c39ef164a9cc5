"""A training run that kills itself (SIGKILL) at a chosen point of a checkpoint save.

Run as ``python checkpoint_worker.py CHECKPOINT_PATH POINT SAVE``: it trains the tiny copy-task
model of ``run()`` with a checkpoint after every epoch and, during save number SAVE, dies at
POINT: ``"partial"`` (half of the temporary file written), ``"before_replace"`` (the temporary
file complete, not yet renamed) or ``"after_replace"`` (renamed, the folder not yet synced).
tests/test_checkpoints.py
imports ``run`` to train the same model without interruption.
"""
from __future__ import annotations

import os
import pathlib
import random
import signal
import sys

import torch

from transformer_book.encoder_decoder.batching import BOS_ID, EOS_ID, make_batches
from transformer_book.encoder_decoder.model import make_model
from transformer_book.encoder_decoder.training import fit

VOCAB, EPOCHS = 24, 4


def batches():
    rng = random.Random(0)
    pairs = []
    for _ in range(96):
        tokens = [rng.randrange(4, VOCAB) for _ in range(rng.randrange(2, 7))]
        pairs.append((tokens + [EOS_ID], [BOS_ID] + tokens + [EOS_ID]))
    return make_batches(pairs[:80], 16, shuffle=True, seed=0), make_batches(pairs[80:], 16, shuffle=False)


def model(seed: int = 0):
    torch.manual_seed(seed)
    return make_model(VOCAB, N=1, d_model=16, d_ff=32, h=2, dropout=0.1, shared_vocab=True)


def run(path, epochs: int = EPOCHS, seed: int = 0):
    """Train (resuming from ``path`` if it holds a checkpoint) and return the model."""
    train, valid = batches()
    trained = model(seed)
    fit(trained, train, valid, epochs, warmup=10, device="cpu", checkpoint_path=path, resume=path is not None,
        progress=False, seed=1)
    return trained


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _arm(point: str, save: int) -> None:
    calls = {"write": 0, "replace": 0}
    write_bytes, replace = pathlib.Path.write_bytes, os.replace

    def killing_write_bytes(self, data):
        calls["write"] += 1
        if point == "partial" and calls["write"] == save:
            with open(self, "wb") as handle:
                handle.write(data[: len(data) // 2])
                handle.flush()
                os.fsync(handle.fileno())
            _die()
        return write_bytes(self, data)

    def killing_replace(source, target):
        calls["replace"] += 1
        if point == "before_replace" and calls["replace"] == save:
            _die()
        replace(source, target)
        if point == "after_replace" and calls["replace"] == save:
            _die()

    pathlib.Path.write_bytes = killing_write_bytes
    os.replace = killing_replace


if __name__ == "__main__":
    checkpoint, kill_point, save_number = sys.argv[1], sys.argv[2], int(sys.argv[3])
    _arm(kill_point, save_number)
    run(checkpoint)
