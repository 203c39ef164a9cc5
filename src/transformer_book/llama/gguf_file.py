"""Read a Llama-architecture GGUF file (llama.cpp's format) into the book's ``Llama``.

The ``gguf`` library (llama.cpp's own Python package) parses the file and dequantises its tensors;
this module only maps them: the configuration from the ``llama.*`` metadata, the tensors by
``weights.gguf_name_map``, and the query and key projections back from llama.cpp's interleaved
rotary layout (``rotary.interleaved_to_half``) unless the model is built in that layout itself.

A GGUF tensor's ``shape`` lists its dimensions fastest-first (``(in, out)`` for a matrix), but
``gguf.quants.dequantize`` returns a numpy array in row-major ``(out, in)`` order, which is
``nn.Linear``'s: no transpose is needed.
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from transformer_book.llama.model import Llama, LlamaConfig
from transformer_book.llama.rotary import LAYOUTS, interleaved_to_half
from transformer_book.llama.weights import copy_weights, gguf_name_map


def _gguf():
    try:
        import gguf
    except ImportError as error:
        raise ImportError("reading GGUF files needs the gguf package: pip install gguf") from error
    return gguf


@dataclass
class GGUFContents:
    """What a GGUF file holds: ``metadata`` (every key-value field, decoded to Python values),
    ``tensor_types`` (name: quantisation type, e.g. ``"Q4_1"``) and ``config`` (the ``LlamaConfig``
    the metadata describes)."""

    path: Path
    metadata: dict[str, object]
    tensor_types: dict[str, str]
    config: LlamaConfig


def _open(path: str | os.PathLike):
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"path must be a path to a .gguf file, got {type(path).__name__}")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no GGUF file at {path}")
    return path, _gguf().GGUFReader(path)


def _metadata(reader) -> dict[str, object]:
    """Every key-value field of an open ``GGUFReader``, decoded (the reader's own ``GGUF.*``
    header fields left out)."""
    return {name: field.contents() for name, field in reader.fields.items() if not name.startswith("GGUF.")}


def config_from_gguf_metadata(metadata: dict[str, object], tensor_names: set[str]) -> LlamaConfig:
    """The ``LlamaConfig`` of a GGUF file's ``llama.*`` metadata; the head is tied when the file has
    no ``output.weight``. Refused (ValueError): another architecture, or a rotary part of the head
    other than all of it (``llama.rope.dimension_count``)."""
    if metadata.get("general.architecture") != "llama":
        raise ValueError(f"not a Llama-architecture GGUF file: general.architecture is "
                         f"{metadata.get('general.architecture')!r}")
    need = ("llama.context_length", "llama.block_count", "llama.attention.head_count", "llama.embedding_length",
            "llama.feed_forward_length")
    missing = [key for key in need if key not in metadata]
    if missing:
        raise ValueError(f"the GGUF metadata lacks {missing}")
    n_head = int(metadata["llama.attention.head_count"])
    config = LlamaConfig(
        vocab_size=int(metadata.get("llama.vocab_size", len(metadata.get("tokenizer.ggml.tokens", ())))),
        block_size=int(metadata["llama.context_length"]),
        n_layer=int(metadata["llama.block_count"]),
        n_head=n_head,
        n_kv_head=int(metadata.get("llama.attention.head_count_kv", n_head)),
        n_embd=int(metadata["llama.embedding_length"]),
        d_ff=int(metadata["llama.feed_forward_length"]),
        rope_theta=float(metadata.get("llama.rope.freq_base", 10000.0)),
        eps=float(metadata.get("llama.attention.layer_norm_rms_epsilon", 1e-5)),
        tie_embeddings="output.weight" not in tensor_names,
    )
    rotary = int(metadata.get("llama.rope.dimension_count", config.head_dim))
    if rotary != config.head_dim:
        raise ValueError(f"the file rotates {rotary} of each head's {config.head_dim} numbers; the book's model rotates all")
    return config


def read_gguf(path: str | os.PathLike) -> GGUFContents:
    """The metadata, tensor types and configuration of the GGUF file at ``path`` (no weights)."""
    path, reader = _open(path)
    metadata = _metadata(reader)
    types = {tensor.name: tensor.tensor_type.name for tensor in reader.tensors}
    return GGUFContents(path, metadata, types, config_from_gguf_metadata(metadata, set(types)))


def load_gguf(path: str | os.PathLike, rope_layout: str = "half") -> Llama:
    """The book's ``Llama`` with the dequantised (float32) weights of the GGUF file at ``path``, in
    evaluation mode. ``rope_layout="half"`` un-permutes the query and key projections into
    ``transformers``' layout; ``"interleaved"`` keeps llama.cpp's and builds the model in it. Both
    compute the same logits."""
    if rope_layout not in LAYOUTS:
        raise ValueError(f"rope_layout must be one of {LAYOUTS}, got {rope_layout!r}")
    path, reader = _open(path)
    config = config_from_gguf_metadata(_metadata(reader), {tensor.name for tensor in reader.tensors})
    config = dataclasses.replace(config, rope_layout=rope_layout)
    dequantize = _gguf().quants.dequantize
    tensors = {}
    for tensor in reader.tensors:
        weight = torch.from_numpy(np.array(dequantize(tensor.data, tensor.tensor_type), dtype=np.float32))
        if rope_layout == "half" and tensor.name.endswith((".attn_q.weight", ".attn_k.weight")):
            heads = config.n_head if ".attn_q." in tensor.name else config.n_kv_head
            weight = interleaved_to_half(weight, heads)
        tensors[tensor.name] = weight
    with torch.device("meta"):                       # no random initialisation of 135M numbers to overwrite
        model = Llama(config)
    model = model.to_empty(device="cpu")
    if config.tie_embeddings:
        model.head.weight = model.token_embedding.weight
    return copy_weights(model, tensors, gguf_name_map(config.n_layer, config.tie_embeddings), str(path)).eval()
