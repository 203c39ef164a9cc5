"""Copy the weights of a ``transformers`` GPT-2 into the book's ``GPT``, name by name.

Hugging Face's GPT-2 keeps OpenAI's original layout: its projections are ``Conv1D`` modules, which
compute ``x @ W + b`` with ``W`` of shape ``(in, out)``. ``nn.Linear`` computes ``x @ W.T + b``
with ``W`` of shape ``(out, in)``, so every projection matrix is transposed on the way across.
Embeddings, LayerNorms and biases are copied as they are.
"""
from __future__ import annotations

import torch
from torch import nn

from transformer_book.gpt.model import GPT, GPTConfig
from transformer_book.common.validation import check_int

TRANSPOSED = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def gpt2_name_map(n_layer: int) -> dict[str, str]:
    """``{Hugging Face GPT-2 parameter name: the book's parameter name}`` for every parameter."""
    check_int("n_layer", n_layer)
    names = {
        "transformer.wte.weight": "token_embedding.weight",
        "transformer.wpe.weight": "position_embedding.table.weight",
        "transformer.ln_f.weight": "final_norm.weight",
        "transformer.ln_f.bias": "final_norm.bias",
    }
    per_layer = {
        "ln_1": "attention_block.norm",
        "attn.c_attn": "attention.w_qkv",
        "attn.c_proj": "attention.w_o",
        "ln_2": "feed_forward_block.norm",
        "mlp.c_fc": "feed_forward.linear1",
        "mlp.c_proj": "feed_forward.linear2",
    }
    for layer in range(n_layer):
        for theirs, ours in per_layer.items():
            for kind in ("weight", "bias"):
                names[f"transformer.h.{layer}.{theirs}.{kind}"] = f"blocks.{layer}.{ours}.{kind}"
    return names


def config_from_gpt2(hf_config) -> GPTConfig:
    """The book's ``GPTConfig`` for a ``transformers.GPT2Config``.

    Refused (ValueError): the options of GPT-2 that the book's GPT does not have, which would
    otherwise load without error and compute other numbers: an ``n_inner`` other than ``4 * n_embd``,
    ``scale_attn_weights=False``, ``scale_attn_by_inverse_layer_idx=True``, cross-attention, and an
    untied output head. Anything without GPT-2's fields is refused with a TypeError."""
    fields = ("vocab_size", "n_positions", "n_layer", "n_head", "n_embd", "activation_function", "layer_norm_epsilon")
    missing = [name for name in fields if not hasattr(hf_config, name)]
    if missing:
        raise TypeError(f"hf_config must be a transformers.GPT2Config, got {type(hf_config).__name__} "
                        f"without {missing}")
    unsupported = {
        "n_inner": getattr(hf_config, "n_inner", None) not in (None, 4 * hf_config.n_embd),
        "scale_attn_weights": not getattr(hf_config, "scale_attn_weights", True),
        "scale_attn_by_inverse_layer_idx": getattr(hf_config, "scale_attn_by_inverse_layer_idx", False),
        "add_cross_attention": getattr(hf_config, "add_cross_attention", False),
        "tie_word_embeddings": not getattr(hf_config, "tie_word_embeddings", True),
    }
    if any(unsupported.values()):
        raise ValueError(f"hf_config sets GPT-2 options the book's GPT does not have: "
                         f"{ {name: getattr(hf_config, name) for name, bad in unsupported.items() if bad} }")
    activations = {"gelu_new": "gelu_tanh", "gelu_pytorch_tanh": "gelu_tanh", "gelu": "gelu"}
    if hf_config.activation_function not in activations:
        raise ValueError(f"no equivalent for GPT-2 activation {hf_config.activation_function!r}")
    return GPTConfig(
        vocab_size=hf_config.vocab_size, block_size=hf_config.n_positions, n_layer=hf_config.n_layer,
        n_head=hf_config.n_head, n_embd=hf_config.n_embd, dropout=0.0,
        activation=activations[hf_config.activation_function], eps=hf_config.layer_norm_epsilon,
    )


def _check_load(model: GPT, hf_model: nn.Module) -> None:
    if not isinstance(model, GPT):
        raise TypeError(f"model must be the book's GPT, got {type(model).__name__}")
    if not isinstance(hf_model, nn.Module):
        raise TypeError(f"hf_model must be a transformers GPT2LMHeadModel, got {type(hf_model).__name__}")
    if hasattr(hf_model, "config"):
        wanted = config_from_gpt2(hf_model.config)
        for name in ("activation", "eps"):
            if getattr(wanted, name) != getattr(model.config, name):
                raise ValueError(f"model.config.{name}={getattr(model.config, name)!r}, but hf_model's config "
                                 f"asks for {getattr(wanted, name)!r}")


@torch.no_grad()
def load_gpt2_weights(model: GPT, hf_model: nn.Module) -> GPT:
    """Copy every weight of a ``transformers.GPT2LMHeadModel`` into ``model``, transposing the
    ``Conv1D`` matrices. Raises if a parameter is missing, left over, or of the wrong shape, and if
    ``hf_model.config`` asks for another activation or LayerNorm epsilon than ``model.config``
    (same shapes, other numbers)."""
    _check_load(model, hf_model)
    state = hf_model.state_dict()
    if "lm_head.weight" in state and not torch.equal(state["lm_head.weight"], state["transformer.wte.weight"]):
        raise ValueError("this GPT-2's output head is not tied to its token embedding; the book's GPT is tied")
    theirs = {name: tensor for name, tensor in state.items() if name != "lm_head.weight"}
    ours = dict(model.named_parameters())
    names = gpt2_name_map(model.config.n_layer)
    if set(theirs) != set(names) or set(names.values()) != set(ours):
        raise ValueError(
            "the two models do not have the same parameters: extra in GPT-2 "
            f"{sorted(set(theirs) - set(names))}, missing in GPT-2 {sorted(set(names) - set(theirs))}, "
            f"unmapped in the book's model {sorted(set(ours) - set(names.values()))}"
        )
    for hf_name, our_name in names.items():
        source = theirs[hf_name]
        source = source.t() if hf_name.endswith(TRANSPOSED) else source
        if source.shape != ours[our_name].shape:
            raise ValueError(f"{hf_name} {tuple(source.shape)} does not fit {our_name} {tuple(ours[our_name].shape)}")
        ours[our_name].copy_(source)
    return model


def gpt_from_gpt2(hf_model: nn.Module) -> GPT:
    """A new book ``GPT`` with the configuration and weights of a ``GPT2LMHeadModel``."""
    if not isinstance(hf_model, nn.Module) or not hasattr(hf_model, "config"):
        raise TypeError(f"hf_model must be a transformers GPT2LMHeadModel, got {type(hf_model).__name__}")
    return load_gpt2_weights(GPT(config_from_gpt2(hf_model.config)), hf_model)
