"""Small helpers every chapter uses: seeding, the execution profile, the device."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

from transformer_book.common.validation import check_int

PROFILES = ("quick", "full")


def seed_everything(seed: int = 0) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) and return a torch.Generator seeded the same.

    Calling it twice with the same seed makes everything after it repeat exactly. ``seed`` must be
    an ``int`` in ``[0, 2**32)`` (NumPy's range); bools, floats and strings are refused before
    anything is seeded.
    """
    if check_int("seed", seed, minimum=0) >= 2**32:
        raise ValueError(f"seed must be in [0, 2**32) (NumPy's range), got {seed}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    return torch.Generator().manual_seed(seed)


def book_profile(default: str = "quick") -> str:
    """The execution profile, from the environment variable ``BOOK_PROFILE``.

    ``quick`` is what the tests run (each chapter in about a minute on 2 CPU cores);
    ``full`` is what the published site shows. ``default`` (used when ``BOOK_PROFILE`` is unset)
    must be one of them too.
    """
    if not isinstance(default, str) or default.strip().lower() not in PROFILES:
        raise ValueError(f"default must be one of {PROFILES}, got {default!r}")
    profile = os.environ.get("BOOK_PROFILE", default).strip().lower()
    if profile not in PROFILES:
        raise ValueError(
            f"BOOK_PROFILE must be one of {PROFILES}, got {profile!r}"
        )
    return profile


def pick_device(preferred: str | None = None) -> torch.device:
    """The best available device: CUDA, then Apple's MPS, then the CPU.

    ``preferred`` (for example ``"cpu"``) overrides the choice; so does the
    environment variable ``BOOK_DEVICE`` (an empty one counts as unset). A name torch does not
    know, or a CUDA/MPS device this machine does not have, is a ``ValueError`` naming where the
    name came from.
    """
    if preferred is not None and not isinstance(preferred, (str, torch.device)):
        raise TypeError(f"preferred must be a device name such as 'cpu', got {type(preferred).__name__}")
    source = "preferred" if preferred is not None else "BOOK_DEVICE"
    name = preferred if preferred is not None else os.environ.get("BOOK_DEVICE", "").strip()
    if isinstance(name, torch.device):
        return _available(name, source)
    if name or preferred is not None:
        try:
            device = torch.device(name)
        except RuntimeError as error:
            raise ValueError(
                f"{source}={name!r} is not a device name (such as 'cpu', 'cuda', 'cuda:0', 'mps'): {error}"
            ) from None
        return _available(device, source)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def _available(device: torch.device, source: str) -> torch.device:
    """``device``, if this machine has it; else a ``ValueError`` naming ``source``."""
    if device.type == "cuda" and (
        not torch.cuda.is_available() or (device.index or 0) >= torch.cuda.device_count()
    ):
        raise ValueError(f"{source} asks for {str(device)!r}, but this machine has "
                         f"{torch.cuda.device_count() if torch.cuda.is_available() else 'no'} CUDA device(s)")
    mps = getattr(torch.backends, "mps", None)
    if device.type == "mps" and not (mps is not None and mps.is_available()):
        raise ValueError(f"{source} asks for 'mps', but MPS is not available on this machine")
    return device


def count_parameters(module: torch.nn.Module, trainable_only: bool = False) -> int:
    """The number of scalar parameters in ``module`` (shared tensors counted once)."""
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"count_parameters expects an nn.Module, got {type(module).__name__}")
    return sum(
        p.numel()
        for p in module.parameters()
        if p.requires_grad or not trainable_only
    )
