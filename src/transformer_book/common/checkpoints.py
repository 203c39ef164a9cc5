"""Checkpoints that survive a crash at any moment: one file, written atomically, checked on load.

A checkpoint is ONE safetensors file. It holds the model's tensors and, when training is to be
resumed, the optimizer's and scheduler's states and the random generators' states (serialised
with ``torch.save`` into one byte tensor, read back with ``weights_only=True``). Its header holds
the step, the caller's ``extra`` (a config, a loss history), the model's configuration and a
SHA-256 checksum of every tensor. Because it is one file replaced by one ``os.replace``, a crash
leaves either the previous checkpoint or the new one, complete, never a mix of the two.

``load_checkpoint`` refuses, naming the file: a file that is truncated or is not a checkpoint, a
checksum that does not match (a flipped bit), and a model whose configuration differs from the
one saved (2 heads into a 4-head model has the same tensor shapes, but is another model).
"""
from __future__ import annotations

import glob
import hashlib
import io
import json
import os
import re
import socket
import uuid
from pathlib import Path
from typing import Any, Callable

import torch
from torch import nn

CHECKPOINT_FORMAT = "transformer_book.checkpoint/2"
TRAINING_STATE = "__training_state__"   # the tensor that holds the optimizer's state, if saved


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: damaged, of another format, or of another model."""


# --------------------------------------------------------------------------------------------
# Atomic writes
# --------------------------------------------------------------------------------------------
_HOST = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname()) or "host"


def _temporary_name(path: Path) -> Path:
    return path.with_name(f".{path.name}.{_HOST}.{os.getpid()}.{uuid.uuid4().hex}.tmp")


def _process_is_alive(pid: int) -> bool:
    if os.name == "nt":   # os.kill would terminate it there: assume it is alive
        return True
    try:
        os.kill(pid, 0)   # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:   # it exists, owned by someone else
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Delete the temporary files that writers of ``path`` killed mid-write left behind and return
    them: those written on this host by a process that no longer exists. Temporaries of live
    writers, of other hosts (a shared file system) and of other files are left alone."""
    path = Path(path)
    pattern = re.compile(rf"\.{re.escape(path.name)}\.{re.escape(_HOST)}\.(\d+)\.[0-9a-f]{{32}}\.tmp")
    removed = []
    for candidate in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        match = pattern.fullmatch(candidate.name)
        if match and int(match[1]) != os.getpid() and not _process_is_alive(int(match[1])):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


def atomic_write(path: str | os.PathLike, write: Callable[[Path], None]) -> None:
    """Write ``path`` through a temporary file in the same folder, then rename it into place.

    ``os.replace`` is atomic: a reader (or a second writer) sees the old file or the new one,
    never half of one. The bytes are flushed to disk before the rename, and the folder after it,
    so that a power cut cannot leave the new name pointing at missing data. Temporary files of
    writers that died are removed first; this writer's is removed if ``write`` fails."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    temporary = _temporary_name(path)
    try:
        write(temporary)
        with open(temporary, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(temporary, path)
        _fsync_folder(path.parent)
    finally:
        temporary.unlink(missing_ok=True)


def _fsync_folder(folder: Path) -> None:
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:   # not possible on every platform (Windows)
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


# --------------------------------------------------------------------------------------------
# What goes into the file
# --------------------------------------------------------------------------------------------
def model_config(model: nn.Module) -> dict:
    """What identifies ``model``'s architecture: its ``config`` (a dict or dataclass, where the
    model has one) and its module tree as ``repr`` prints it (layer types, sizes, heads)."""
    config = getattr(model, "config", None)
    if config is not None and hasattr(config, "__dataclass_fields__"):
        from dataclasses import asdict

        config = asdict(config)
    return {"config": json.loads(json.dumps(config, default=str)), "modules": repr(model)}


def _unique_state(model: nn.Module) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The model's tensors with each shared one (a tied embedding) stored once, and the aliases."""
    tensors, aliases, seen = {}, {}, {}
    for name, tensor in model.state_dict().items():
        key = (tensor.untyped_storage().data_ptr(), tensor.storage_offset(), tuple(tensor.shape),
               tensor.stride(), tensor.dtype)
        if tensor.numel() and key in seen:
            aliases[name] = seen[key]
            continue
        seen[key] = name
        tensors[name] = tensor.detach().to("cpu").contiguous()
    return tensors, aliases


def _checksum(tensors: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.view(-1).view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def _training_state(optimizer, scheduler) -> torch.Tensor:
    state = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "torch_rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }
    buffer = io.BytesIO()
    torch.save(state, buffer)
    return torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)


# --------------------------------------------------------------------------------------------
# Save and load
# --------------------------------------------------------------------------------------------
def save_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    step: int = 0,
    extra: dict | None = None,
) -> Path:
    """Save ``model`` (and, with an ``optimizer``, everything needed to resume training) to the
    one file ``path``, atomically, and return ``path``.

    ``extra`` is anything JSON can write (numbers, strings, lists, dicts), kept in the header.
    Everything is checked and serialised before the file is touched, so a bad argument leaves
    the previous checkpoint as it was.
    """
    from safetensors.torch import save

    path = Path(path)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if isinstance(step, bool) or not isinstance(step, int) or step < 0:
        raise ValueError(f"step must be a non-negative integer, got {step!r}")
    if scheduler is not None and optimizer is None:
        raise ValueError("a scheduler is saved with its optimizer: pass optimizer= too")
    try:
        extra_json = json.dumps(extra or {})
    except (TypeError, ValueError) as error:
        raise TypeError(f"extra must be JSON-serialisable (numbers, strings, lists, dicts): {error}") from error
    tensors, aliases = _unique_state(model)
    if TRAINING_STATE in tensors:
        raise ValueError(f"the model has a tensor named {TRAINING_STATE!r}, which checkpoints reserve")
    if optimizer is not None:
        tensors[TRAINING_STATE] = _training_state(optimizer, scheduler)
    metadata = {
        "format": CHECKPOINT_FORMAT,
        "checkpoint_id": uuid.uuid4().hex,
        "step": str(step),
        "extra": extra_json,
        "model": json.dumps(model_config(model)),
        "aliases": json.dumps(aliases),
        "sha256": _checksum(tensors),
    }
    data = save(tensors, metadata=metadata)
    atomic_write(path, lambda temporary: temporary.write_bytes(data))
    return path


def _read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and header of checkpoint ``path``, every problem reported with the file's name."""
    from safetensors import SafetensorError
    from safetensors.torch import load

    if not path.exists():
        raise FileNotFoundError(f"no checkpoint at {path}")
    if not path.is_file():
        raise CheckpointError(f"{path} is not a file")
    data = path.read_bytes()
    try:
        tensors = load(data)
        header_length = int.from_bytes(data[:8], "little")
        metadata = json.loads(data[8:8 + header_length]).get("__metadata__") or {}
    except (SafetensorError, ValueError, UnicodeDecodeError) as error:
        raise CheckpointError(
            f"{path} is not a readable checkpoint (truncated or damaged: {error}); "
            "delete it and save again, or train again"
        ) from error
    if metadata.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is not a checkpoint written by save_checkpoint (format {metadata.get('format')!r}, "
            f"expected {CHECKPOINT_FORMAT!r})"
        )
    if _checksum(tensors) != metadata.get("sha256"):
        raise CheckpointError(f"{path} is damaged: its tensors do not match the checksum saved with them")
    return tensors, metadata


def read_checkpoint_metadata(path: str | os.PathLike) -> dict:
    """``{"step", "extra", "checkpoint_id", "model", "resumable"}`` of checkpoint ``path``, after
    checking the whole file (see ``load_checkpoint`` for what is refused)."""
    tensors, metadata = _read(Path(path))
    return _info(metadata, tensors)


def _info(metadata: dict[str, str], tensors: dict[str, torch.Tensor]) -> dict:
    return {
        "step": int(metadata["step"]),
        "extra": json.loads(metadata["extra"]),
        "checkpoint_id": metadata["checkpoint_id"],
        "model": json.loads(metadata["model"]),
        "resumable": TRAINING_STATE in tensors,
    }


def load_checkpoint(
    path: str | os.PathLike,
    model: nn.Module,
    optimizer: torch.optim.Optimizer | None = None,
    scheduler: Any = None,
    restore_rng: bool = False,
    check_config: bool = True,
) -> dict:
    """Load checkpoint ``path`` into ``model`` (and, if given, the optimizer's and scheduler's
    states) and return its ``{"step", "extra", "checkpoint_id", "model", "resumable"}``.

    Refused with ``CheckpointError`` (a ``ValueError``) naming the file, before anything is
    changed: a truncated or damaged file, a checksum mismatch, a model whose configuration differs
    from the saved one (``check_config=False`` loads matching tensors anyway), and an optimizer or
    ``restore_rng`` asked of a checkpoint saved without training state. ``restore_rng`` also
    restores the random generators, so that a resumed run draws the same dropout masks as one
    that was never interrupted.
    """
    path = Path(path)
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    tensors, metadata = _read(path)
    info = _info(metadata, tensors)
    if check_config and info["model"] != model_config(model):
        raise CheckpointError(f"{path} holds another model: {_config_difference(info['model'], model_config(model))}")
    wants_state = optimizer is not None or scheduler is not None or restore_rng
    if wants_state and not info["resumable"]:
        raise CheckpointError(f"{path} was saved without an optimizer: it holds weights only and cannot resume training")
    state = None
    if wants_state:
        state = torch.load(io.BytesIO(tensors.pop(TRAINING_STATE).numpy().tobytes()), map_location="cpu", weights_only=True)
        if scheduler is not None and state["scheduler"] is None:
            raise CheckpointError(f"{path} was saved without a scheduler")
    tensors.pop(TRAINING_STATE, None)
    for name, original in json.loads(metadata["aliases"]).items():
        tensors[name] = tensors[original]
    _check_fits(path, tensors, model)
    if state is not None:   # the optimizer checks its groups before it changes anything: load it first
        if optimizer is not None:
            try:
                optimizer.load_state_dict(state["optimizer"])
            except ValueError as error:
                raise CheckpointError(f"{path} holds the state of another optimizer: {error}") from error
        if scheduler is not None:
            scheduler.load_state_dict(state["scheduler"])
    model.load_state_dict(tensors, strict=True)
    if state is not None:
        if restore_rng:
            torch.set_rng_state(state["torch_rng"])
            if state["cuda_rng"] and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(state["cuda_rng"])
    return info


def _check_fits(path: Path, tensors: dict[str, torch.Tensor], model: nn.Module) -> None:
    """Refuse, before any weight is copied, tensors whose names or shapes are not the model's."""
    expected = {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}
    saved = {name: tuple(tensor.shape) for name, tensor in tensors.items()}
    problems = [f"missing {name}" for name in expected if name not in saved]
    problems += [f"unexpected {name}" for name in saved if name not in expected]
    problems += [
        f"{name} is {saved[name]} in the file, {shape} in the model"
        for name, shape in expected.items() if name in saved and saved[name] != shape
    ]
    if problems:
        raise CheckpointError(f"{path} does not fit this model: " + "; ".join(problems[:5]))


def _config_difference(saved: dict, current: dict) -> str:
    saved_config, current_config = saved.get("config"), current.get("config")
    if isinstance(saved_config, dict) and isinstance(current_config, dict):
        differ = [
            f"{key}={saved_config.get(key)!r} saved, {current_config.get(key)!r} here"
            for key in sorted(set(saved_config) | set(current_config))
            if saved_config.get(key) != current_config.get(key)
        ]
        if differ:
            return "; ".join(differ)
    if saved_config != current_config:
        return f"config {saved_config!r} saved, {current_config!r} here"
    return "the module trees differ (layer types, sizes, heads or norm placement)"
