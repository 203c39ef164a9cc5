"""A recurrent network written as a loop over time, and a way to count sequential steps.

Chapter 1 uses these to measure what attention changed. The Elman RNN (Elman, 1990) updates one
hidden state per time step,

    h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh),

so step ``t`` cannot start before step ``t - 1`` has finished. ``sequential_depth`` counts such
waiting in any computation: the number of operations on the longest chain from an input to the
output, read off PyTorch's autograd graph. ``gradient_norms_by_distance`` measures how strongly an
output depends on each earlier position, the other half of chapter 1's comparison.

Shapes: inputs ``(B, T, D_in)``, hidden states ``(B, D_h)``, outputs ``(B, T, D_h)``.
"""
from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn
from torch.autograd.functional import jacobian

from transformer_book.common.validation import check_int


class ElmanRNN(nn.Module):
    """A one-layer tanh RNN that runs an explicit Python loop over the time steps.

    It computes exactly what ``nn.RNN(input_size, hidden_size, batch_first=True,
    nonlinearity="tanh")`` computes, with the same parameter shapes and the same initialisation
    (uniform in ``[-1/sqrt(D_h), 1/sqrt(D_h)]``); ``from_torch`` copies the weights of one.
    ``forward`` returns ``(outputs, last)``: every hidden state ``(B, T, D_h)`` and the last one
    ``(B, D_h)`` (``nn.RNN`` returns the last one as ``(1, B, D_h)``).
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__()
        check_int("input_size", input_size)
        check_int("hidden_size", hidden_size)
        self.input_size, self.hidden_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))    # (D_h, D_in)
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))   # (D_h, D_h)
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(hidden_size))              # (D_h,)
            self.bias_hh = nn.Parameter(torch.empty(hidden_size))              # (D_h,)
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Initialise every parameter uniformly in ``[-1/sqrt(D_h), 1/sqrt(D_h)]``, as ``nn.RNN`` does."""
        bound = 1.0 / math.sqrt(self.hidden_size)
        for parameter in self.parameters():
            nn.init.uniform_(parameter, -bound, bound)

    @classmethod
    def from_torch(cls, rnn: nn.RNN) -> "ElmanRNN":
        """An ``ElmanRNN`` holding a copy of the weights of a one-layer, one-direction tanh ``nn.RNN``."""
        if not isinstance(rnn, nn.RNN):
            raise TypeError(f"from_torch expects an nn.RNN, got {type(rnn).__name__}")
        if rnn.num_layers != 1 or rnn.bidirectional or rnn.nonlinearity != "tanh" or rnn.proj_size:
            raise ValueError(
                "from_torch supports one layer, one direction, nonlinearity='tanh' and no projection; got "
                f"num_layers={rnn.num_layers}, bidirectional={rnn.bidirectional}, "
                f"nonlinearity={rnn.nonlinearity!r}"
            )
        model = cls(rnn.input_size, rnn.hidden_size, bias=rnn.bias)
        model = model.to(device=rnn.weight_ih_l0.device, dtype=rnn.weight_ih_l0.dtype)
        with torch.no_grad():
            model.weight_ih.copy_(rnn.weight_ih_l0)
            model.weight_hh.copy_(rnn.weight_hh_l0)
            if rnn.bias:
                model.bias_ih.copy_(rnn.bias_ih_l0)
                model.bias_hh.copy_(rnn.bias_hh_l0)
        return model

    def step(self, x_t: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        """One time step: the input ``x_t`` ``(B, D_in)`` and the state ``h`` ``(B, D_h)`` give the next state ``(B, D_h)``."""
        if x_t.dim() != 2 or x_t.shape[1] != self.input_size or h.shape != (x_t.shape[0], self.hidden_size):
            raise ValueError(
                f"step expects x_t (B, {self.input_size}) and h (B, {self.hidden_size}), got "
                f"{tuple(x_t.shape)} and {tuple(h.shape)}"
            )
        return torch.tanh(F.linear(x_t, self.weight_ih, self.bias_ih) + F.linear(h, self.weight_hh, self.bias_hh))

    def forward(
        self, x: torch.Tensor, h0: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Run over ``x`` ``(B, T, D_in)`` from ``h0`` ``(B, D_h)`` (zeros if omitted).

        Returns ``(outputs, last)``: ``outputs`` ``(B, T, D_h)`` holds ``h_1 .. h_T`` and ``last``
        ``(B, D_h)`` is ``h_T``. ``x`` and ``h0`` must be floating-point tensors of the parameters'
        dtype and device (``TypeError`` otherwise).
        """
        weight = self.weight_ih
        for name, value in (("x", x), ("h0", h0)):
            if value is None:
                continue
            if not isinstance(value, torch.Tensor):
                raise TypeError(f"{name} must be a tensor, got {type(value).__name__}")
            if value.dtype != weight.dtype or value.device != weight.device:
                raise TypeError(
                    f"{name} must be {weight.dtype} on {weight.device} like the parameters, "
                    f"got {value.dtype} on {value.device}"
                )
        if x.dim() != 3:
            raise ValueError(f"ElmanRNN expects inputs of shape (B, T, D_in), got {tuple(x.shape)}")
        batch, length, features = x.shape
        if features != self.input_size:
            raise ValueError(
                f"ElmanRNN was built for D_in={self.input_size} input features, got inputs {tuple(x.shape)}"
            )
        if length < 1:
            raise ValueError("ElmanRNN needs at least one time step, got T=0")
        if h0 is None:
            h = x.new_zeros(batch, self.hidden_size)                            # (B, D_h)
        elif h0.shape != (batch, self.hidden_size):
            raise ValueError(
                f"h0 must have shape (B, D_h) = {(batch, self.hidden_size)}, got {tuple(h0.shape)}"
            )
        else:
            h = h0
        states = []
        for t in range(length):           # T steps, each waiting for the one before
            h = self.step(x[:, t], h)     # (B, D_h)
            states.append(h)
        return torch.stack(states, dim=1), h                                     # (B, T, D_h), (B, D_h)


def sequential_depth(output: torch.Tensor) -> int:
    """The number of operations on the longest chain of dependent operations that produced ``output``.

    Operations on one chain must run one after another, whatever the hardware; operations on
    different chains could run at the same time. The count is read from ``output``'s autograd
    graph, so ``output`` must have been computed, outside ``torch.no_grad()``, from at least one
    tensor with ``requires_grad=True``. Each differentiable operation (a matrix product, an
    addition, a tanh, ...) counts 1; leaf tensors count 0.
    """
    if not isinstance(output, torch.Tensor):
        raise TypeError(f"sequential_depth expects a tensor, got {type(output).__name__}")
    if output.grad_fn is None:
        raise ValueError(
            "output has no autograd history: compute it outside torch.no_grad() from a tensor "
            "with requires_grad=True"
        )
    depth: dict[object, int] = {}
    stack: list[tuple[object, bool]] = [(output.grad_fn, False)]
    while stack:                           # iterative depth-first search: graphs can be very deep
        node, children_done = stack.pop()
        if node in depth:
            continue
        children = [child for child, _ in node.next_functions if child is not None]
        if children_done:
            own = 0 if type(node).__name__ == "AccumulateGrad" else 1
            depth[node] = own + max((depth[child] for child in children), default=0)
        else:
            stack.append((node, True))
            stack.extend((child, False) for child in children if child not in depth)
    return depth[output.grad_fn]


def gradient_norms_by_distance(f: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """How strongly ``f(x)`` depends on each position of ``x``, listed by distance from the last position.

    ``x`` is one sequence ``(1, T, D)`` and ``f`` maps it to a tensor of any shape, for example an
    RNN's last state ``(1, D_h)``. For each position ``t`` this computes the *Jacobian*
    ``d f(x) / d x[0, t]``, the table of the partial derivatives of every number of ``f(x)`` with
    respect to every number of ``x[0, t]``, and keeps its size: its Frobenius norm, the square root
    of the sum of the squares of its entries. Returns a ``(T,)`` tensor ordered by distance
    ``T - 1 - t``: entry 0 is the last position, entry ``T - 1`` the first.
    """
    if not callable(f):
        raise TypeError(f"f must be a callable taking x, got {type(f).__name__}")
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating-point tensor, got {type(x).__name__}"
                        + (f" of dtype {x.dtype}" if isinstance(x, torch.Tensor) else ""))
    if x.dim() != 3 or x.shape[0] != 1:
        raise ValueError(f"x must be one sequence of shape (1, T, D), got {tuple(x.shape)}")
    length, features = x.shape[1], x.shape[2]
    J = jacobian(f, x)                                         # f(x).shape + (1, T, D)
    J = J.reshape(-1, length, features)                        # (outputs, T, D)
    norms = J.pow(2).sum(dim=(0, 2)).sqrt()                    # (T,), by position t
    return norms.flip(0)                                       # (T,), by distance T - 1 - t
