"""Copy a ``transformers`` ``LlamaForCausalLM``, or a GGUF file's weights, into the book's ``Llama``.

Both go through an explicit name map, ``{their name: the book's name}``, for every parameter, and
refuse a checkpoint whose names or shapes do not match it exactly (nothing missing, nothing left
over). ``transformers`` stores the query and key projections in the "half" rotary layout; GGUF
files, written by llama.cpp's converter, store them permuted into the "interleaved" layout, which
``load_gguf`` undoes (``rotary.interleaved_to_half``) or keeps (``rope_layout="interleaved"``).
"""
from __future__ import annotations

import torch
from torch import nn

from transformer_book.common.validation import check_int
from transformer_book.llama.model import Llama, LlamaConfig

HF_PER_LAYER = {
    "input_layernorm": "attention_norm",
    "self_attn.q_proj": "attention.q_proj",
    "self_attn.k_proj": "attention.k_proj",
    "self_attn.v_proj": "attention.v_proj",
    "self_attn.o_proj": "attention.o_proj",
    "post_attention_layernorm": "feed_forward_norm",
    "mlp.gate_proj": "feed_forward.gate",
    "mlp.up_proj": "feed_forward.up",
    "mlp.down_proj": "feed_forward.down",
}
GGUF_PER_LAYER = {
    "attn_norm": "attention_norm",
    "attn_q": "attention.q_proj",
    "attn_k": "attention.k_proj",
    "attn_v": "attention.v_proj",
    "attn_output": "attention.o_proj",
    "ffn_norm": "feed_forward_norm",
    "ffn_gate": "feed_forward.gate",
    "ffn_up": "feed_forward.up",
    "ffn_down": "feed_forward.down",
}


def hf_name_map(n_layer: int, tie_embeddings: bool = True) -> dict[str, str]:
    """``{transformers LlamaForCausalLM parameter name: the book's name}`` for every parameter
    (``lm_head.weight`` only when the head is not tied to the embedding)."""
    check_int("n_layer", n_layer)
    names = {"model.embed_tokens.weight": "token_embedding.weight", "model.norm.weight": "final_norm.weight"}
    if not tie_embeddings:
        names["lm_head.weight"] = "head.weight"
    for layer in range(n_layer):
        for theirs, ours in HF_PER_LAYER.items():
            names[f"model.layers.{layer}.{theirs}.weight"] = f"blocks.{layer}.{ours}.weight"
    return names


def gguf_name_map(n_layer: int, tie_embeddings: bool = True) -> dict[str, str]:
    """``{GGUF tensor name (llama.cpp's): the book's name}`` for every parameter."""
    check_int("n_layer", n_layer)
    names = {"token_embd.weight": "token_embedding.weight", "output_norm.weight": "final_norm.weight"}
    if not tie_embeddings:
        names["output.weight"] = "head.weight"
    for layer in range(n_layer):
        for theirs, ours in GGUF_PER_LAYER.items():
            names[f"blk.{layer}.{theirs}.weight"] = f"blocks.{layer}.{ours}.weight"
    return names


def config_from_transformers(hf_config) -> LlamaConfig:
    """The book's ``LlamaConfig`` for a ``transformers.LlamaConfig``.

    Refused (ValueError): Llama options the book's model does not have, which would otherwise load
    and compute other numbers: biases in attention or MLP, an activation other than SiLU, a
    ``head_dim`` other than ``hidden_size / num_attention_heads``, and rotary scaling (``rope_scaling``
    of a type other than the default). Anything without a Llama config's fields: TypeError."""
    fields = ("vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
              "max_position_embeddings", "rms_norm_eps")
    missing = [name for name in fields if not hasattr(hf_config, name)]
    if missing:
        raise TypeError(f"hf_config must be a transformers.LlamaConfig, got {type(hf_config).__name__} without {missing}")
    rope = getattr(hf_config, "rope_parameters", None) or getattr(hf_config, "rope_scaling", None) or {}
    theta = rope.get("rope_theta", getattr(hf_config, "rope_theta", None))
    heads = hf_config.num_attention_heads
    unsupported = {
        "attention_bias": getattr(hf_config, "attention_bias", False),
        "mlp_bias": getattr(hf_config, "mlp_bias", False),
        "hidden_act": getattr(hf_config, "hidden_act", "silu") != "silu",
        "head_dim": getattr(hf_config, "head_dim", None) not in (None, hf_config.hidden_size // heads),
        "rope_type": rope.get("rope_type", rope.get("type", "default")) != "default",
    }
    if any(unsupported.values()) or theta is None:
        bad = {name: getattr(hf_config, name, rope.get(name)) for name, is_bad in unsupported.items() if is_bad}
        raise ValueError(f"hf_config sets Llama options the book's model does not have: {bad or 'no rope_theta'}")
    return LlamaConfig(
        vocab_size=hf_config.vocab_size, block_size=hf_config.max_position_embeddings,
        n_layer=hf_config.num_hidden_layers, n_head=heads,
        n_kv_head=getattr(hf_config, "num_key_value_heads", None) or heads, n_embd=hf_config.hidden_size,
        d_ff=hf_config.intermediate_size, rope_theta=float(theta), eps=hf_config.rms_norm_eps,
        tie_embeddings=bool(getattr(hf_config, "tie_word_embeddings", False)),
    )


def copy_weights(model: Llama, tensors: dict[str, torch.Tensor], names: dict[str, str], source: str) -> Llama:
    """Copy ``tensors`` (their names) into ``model`` by ``names`` (theirs to ours); refuse missing,
    unexpected and misshapen tensors, naming them, before anything is copied."""
    ours = dict(model.named_parameters())         # a tied head appears once, as token_embedding.weight
    missing = sorted(set(names) - set(tensors))
    unexpected = sorted(set(tensors) - set(names))
    if missing or unexpected:
        raise ValueError(f"{source} does not match the model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    wrong = [(theirs, tuple(tensors[theirs].shape), tuple(ours[mine].shape))
             for theirs, mine in names.items() if tensors[theirs].shape != ours[mine].shape]
    if wrong:
        raise ValueError(f"{source} has tensors of the wrong shape (name, theirs, ours): {wrong[:5]}")
    with torch.no_grad():
        for theirs, mine in names.items():
            ours[mine].copy_(tensors[theirs])
    return model


def from_transformers(hf_model: nn.Module) -> Llama:
    """The book's ``Llama`` with the weights of a ``transformers`` ``LlamaForCausalLM`` (float32,
    evaluation mode)."""
    if not isinstance(hf_model, nn.Module) or not hasattr(hf_model, "config"):
        raise TypeError(f"hf_model must be a transformers LlamaForCausalLM, got {type(hf_model).__name__}")
    config = config_from_transformers(hf_model.config)
    tensors = {name: tensor.detach().float() for name, tensor in hf_model.state_dict().items()}
    if config.tie_embeddings:
        tensors.pop("lm_head.weight", None)          # the same matrix as the embedding
    model = Llama(config)
    return copy_weights(model, tensors, hf_name_map(config.n_layer, config.tie_embeddings), "hf_model").eval()

