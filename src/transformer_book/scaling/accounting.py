"""Where a training step's memory and time go: formulas for the book's GPT, and measurements to
check them against.

Memory: the parameters, their gradients and AdamW's two moments (``state_bytes``, measured by
``measured_state_bytes`` from the tensors themselves), and the activations that autograd keeps for
the backward pass (``gpt_activation_bytes``, measured by ``saved_activation_bytes`` with
``torch.autograd.graph.saved_tensors_hooks``). Time: the FLOPs of a step (``gpt_train_flops``,
checked against ``torch.utils.flop_counter.FlopCounterMode``) and the machine's measured rate of
matrix products (``matmul_flops_per_second``), whose ratio is the step's efficiency.
"""
from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from transformer_book.common.timing import median_time
from transformer_book.common.utils import count_parameters
from transformer_book.common.validation import check_bool, check_int
from transformer_book.gpt.model import GPTConfig


def _check_config(config: GPTConfig) -> None:
    if not isinstance(config, GPTConfig):
        raise TypeError(f"config must be a GPTConfig, got {type(config).__name__}")


def state_bytes(model: nn.Module, bytes_per_number: int = 4, optimizer_moments: int = 2) -> dict[str, int]:
    """Bytes of the training state of ``model``'s trainable parameters, from their count N: the
    parameters, their gradients (N numbers each) and the optimizer's moments (``optimizer_moments``
    x N; AdamW keeps 2, SGD with momentum 1), at ``bytes_per_number`` each (4 for float32)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    check_int("bytes_per_number", bytes_per_number)
    check_int("optimizer_moments", optimizer_moments, minimum=0)
    n = count_parameters(model, trainable_only=True)
    parts = {"parameters": n * bytes_per_number, "gradients": n * bytes_per_number,
             "optimizer": optimizer_moments * n * bytes_per_number}
    return {**parts, "total": sum(parts.values())}


def _tensor_bytes(tensors) -> int:
    """Bytes of ``tensors``, each distinct tensor once (a tied matrix once); a DTensor counts its
    shard on this rank. By tensor, not storage: FSDP2's gradients are views into one flat buffer."""
    locals_ = [t.to_local() if hasattr(t, "to_local") else t for t in tensors]
    distinct = {(t.data_ptr(), t.numel()): t.numel() * t.element_size() for t in locals_}
    return sum(distinct.values())


def measured_state_bytes(model: nn.Module, optimizer: torch.optim.Optimizer) -> dict[str, int]:
    """The bytes that ``model``'s parameters, their ``.grad`` and ``optimizer``'s state tensors
    occupy on this process (for FSDP2, its shards), each tensor counted once. The optimizer's
    0-dimensional step counters are left out (one number per parameter tensor). Call it after a step."""
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    parameters = [p for p in model.parameters() if p.requires_grad]
    state = [t for p in parameters for t in optimizer.state.get(p, {}).values()
             if isinstance(t, torch.Tensor) and t.dim() > 0]
    parts = {"parameters": _tensor_bytes(parameters),
             "gradients": _tensor_bytes([p.grad for p in parameters if p.grad is not None]),
             "optimizer": _tensor_bytes(state)}
    return {**parts, "total": sum(parts.values())}


def saved_activation_bytes(model: nn.Module, forward: Callable[[], torch.Tensor]) -> int:
    """Bytes of the tensors that autograd saves for the backward pass while ``forward()`` runs
    (the activations), each storage counted once, ``model``'s parameters left out. Returns the
    count; ``forward``'s result is dropped."""
    if not callable(forward):
        raise TypeError(f"forward must be a function of no arguments, got {type(forward).__name__}")
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    saved: dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            saved.setdefault(storage.data_ptr(), storage.nbytes())
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        forward()
    return sum(saved.values())


def gpt_activation_bytes(config: GPTConfig, batch: int, seq: int) -> dict[str, int]:
    """Bytes of float32 activations that a forward pass of the book's ``GPT`` (fused attention,
    no dropout) and a cross-entropy loss save for the backward pass, on ``(batch, seq)`` tokens.

    Per block, in numbers: the block's input, the first norm's output, the fused query-key-value
    projection (3 of width D), the attention output, the residual sum and the second norm's output
    (D each), the feed-forward network's hidden layer before and after GELU (4D each): 16 BTD;
    plus the two norms' means and reciprocal deviations (4 BT) and the attention's log-sum-exp (BHT).
    After the blocks: the final norm's input and output (2 BTD) and statistics (2 BT), the
    log-softmax of the logits (BTV), the input ids and the target ids (int64, two tensors as a
    training loop makes them) and the loss."""
    _check_config(config)
    check_int("batch", batch)
    check_int("seq", seq)
    if seq > config.block_size:
        raise ValueError(f"seq={seq} is longer than block_size={config.block_size}")
    b, t, d, h, v = batch, seq, config.n_embd, config.n_head, config.vocab_size
    per_block = 4 * (16 * b * t * d + 4 * b * t + b * h * t)
    rest = 4 * (2 * b * t * d + 2 * b * t + b * t * v) + 2 * 8 * b * t + 4
    return {"per_block": per_block, "blocks": config.n_layer * per_block, "rest": rest,
            "total": config.n_layer * per_block + rest}


def gpt_linear_weights(config: GPTConfig) -> int:
    """Weights of the GPT's linear layers, the output head included (biases and norms not):
    ``12 L D^2 + V D``, the N of the 6N rule."""
    _check_config(config)
    return 12 * config.n_layer * config.n_embd ** 2 + config.vocab_size * config.n_embd


def gpt_train_flops(config: GPTConfig, batch: int, seq: int, attention: bool = True) -> int:
    """FLOPs of the matrix products of one training step (forward and backward) on ``(batch, seq)``
    tokens: ``6 N`` per token for the linear layers, and with ``attention`` the scores and weighted
    sums, computed in full (``2 T D`` each per token and layer in the forward pass, twice that in the
    backward): ``12 L T D`` per token."""
    _check_config(config)
    check_int("batch", batch)
    check_int("seq", seq)
    check_bool("attention", attention)
    tokens = batch * seq
    attention_flops = 12 * config.n_layer * seq * config.n_embd * tokens if attention else 0
    return 6 * gpt_linear_weights(config) * tokens + attention_flops


def matmul_flops_per_second(size: int = 1024, dtype: torch.dtype = torch.float32, repeats: int = 7,
                            device: torch.device | str = "cpu") -> float:
    """The measured rate of one ``(size, size) @ (size, size)`` matrix product (``2 size^3`` FLOPs),
    median of ``repeats`` timings after a warm-up: this machine's practical peak."""
    check_int("size", size)
    check_int("repeats", repeats)
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    b = torch.randn(size, size, generator=generator).to(device=device, dtype=dtype)
    return 2 * size ** 3 / median_time(lambda: a @ b, warmup=2, repeats=repeats)   # it synchronises CUDA
