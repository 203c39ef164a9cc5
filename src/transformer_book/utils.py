"""Small helpers every chapter uses: seeding, the execution profile, the device."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

PROFILES = ("quick", "full")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a torch.Generator seeded the same.

    Calling it twice with the same seed makes everything after it repeat exactly.
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def book_profile(default: str = "quick") -> str:
    """The execution profile, from the environment variable ``BOOK_PROFILE``.

    ``quick`` is what the tests run (each chapter in about a minute on 2 CPU cores);
    ``full`` is what the published site shows.
    """
    profile = os.environ.get("BOOK_PROFILE", default).strip().lower()
    if profile not in PROFILES:
        raise ValueError(
            f"BOOK_PROFILE must be one of {PROFILES}, got {profile!r}"
        )
    return profile


def pick_device(preferred: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU.

    ``preferred`` (for example ``"cpu"``) overrides the choice; so does the
    environment variable ``BOOK_DEVICE``.
    """
    name = preferred or os.environ.get("BOOK_DEVICE")
    if name:
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def count_parameters(module: torch.nn.Module, trainable_only: bool = False) -> int:
    """The number of scalar parameters in ``module`` (shared tensors counted once)."""
    return sum(
        p.numel()
        for p in module.parameters()
        if p.requires_grad or not trainable_only
    )
