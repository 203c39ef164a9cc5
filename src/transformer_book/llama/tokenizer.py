"""The tokenizer and the chat format of a GGUF file, built from the file's own metadata.

A GGUF file of a ``gpt2``-style tokenizer stores the byte-level BPE's vocabulary
(``tokenizer.ggml.tokens``, already spelled in GPT-2's byte alphabet: a space is ``Ġ``), its merges
and each token's type; "control" tokens (type 3) are the special tokens such as ``<|im_start|>``.
``tokenizers`` builds the same BPE from them. The chat template (``tokenizer.chat_template``) is a
Jinja template that turns a list of messages into the text the model was fine-tuned on; it is
rendered with ``jinja2``'s sandbox, as ``transformers`` renders it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers

CONTROL = 3      # GGUF's token type of special tokens


@dataclass
class ChatFormat:
    """A model's chat conventions: the Jinja ``template`` and the ids of the tokens that start a
    message (``bos_id``) and end one (``eos_id``: generation stops there)."""

    template: str
    bos_id: int
    eos_id: int

    def render(self, messages: Sequence[dict[str, str]], add_generation_prompt: bool = True) -> str:
        """The prompt text for ``messages`` (each ``{"role": ..., "content": ...}``), ending with the
        start of the assistant's turn when ``add_generation_prompt``."""
        if isinstance(messages, (str, dict)) or not all(
                isinstance(m, dict) and isinstance(m.get("role"), str) and isinstance(m.get("content"), str)
                for m in messages):
            raise TypeError('messages must be a list of {"role": str, "content": str} dicts')
        from jinja2.sandbox import ImmutableSandboxedEnvironment

        environment = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True)
        return environment.from_string(self.template).render(
            messages=list(messages), add_generation_prompt=add_generation_prompt)


def tokenizer_from_gguf_metadata(metadata: dict[str, object]) -> Tokenizer:
    """The byte-level BPE of a GGUF file's ``tokenizer.ggml.*`` metadata, with its control tokens
    as special tokens. Only ``tokenizer.ggml.model == "gpt2"`` (byte-level BPE) is supported."""
    if metadata.get("tokenizer.ggml.model") != "gpt2":
        raise ValueError(f"only byte-level BPE tokenizers (tokenizer.ggml.model 'gpt2') are supported, got "
                         f"{metadata.get('tokenizer.ggml.model')!r}")
    tokens = list(metadata["tokenizer.ggml.tokens"])
    merges = [tuple(merge.split(" ")) for merge in metadata["tokenizer.ggml.merges"]]
    types = list(metadata.get("tokenizer.ggml.token_type", [1] * len(tokens)))
    tokenizer = Tokenizer(models.BPE(vocab={token: i for i, token in enumerate(tokens)}, merges=merges,
                                     fuse_unk=False))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False)
                                  for token, kind in zip(tokens, types) if kind == CONTROL])
    return tokenizer


def chat_format_from_gguf_metadata(metadata: dict[str, object]) -> ChatFormat:
    """The chat template and the begin/end-of-message ids of a GGUF file's metadata."""
    missing = [key for key in ("tokenizer.chat_template", "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id")
               if key not in metadata]
    if missing:
        raise ValueError(f"the GGUF metadata lacks {missing}: not a chat model")
    return ChatFormat(str(metadata["tokenizer.chat_template"]), int(metadata["tokenizer.ggml.bos_token_id"]),
                      int(metadata["tokenizer.ggml.eos_token_id"]))
