"""The book's MLP (`layers` = nn.Sequential, Linear at even indices) and reading its shape back from weights."""

from __future__ import annotations

import threading
from dataclasses import dataclass

import torch
from torch import nn

from core.errors import ArchitectureError
from core.memory import estimate_training_bytes as estimate_training_bytes  # torch-free: the form uses it early

_ACTIVATION_LAYERS = {
    "relu": nn.ReLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "gelu": nn.GELU,
    "leaky_relu": nn.LeakyReLU,
    "identity": nn.Identity,
}


class NeuralNetwork(nn.Module):
    """Appendix A's `NeuralNetwork`, generalised to any hidden sizes and activation.

    With `hidden_sizes=(30, 20)` and ReLU it is the book's class, parameter for parameter,
    so `torch.manual_seed(123)` before building it gives the book's initial weights.
    """

    def __init__(self, num_inputs: int, num_outputs: int, hidden_sizes=(30, 20), activation: str = "relu"):
        super().__init__()
        if activation not in _ACTIVATION_LAYERS:
            raise ValueError(f"unknown activation {activation!r}")
        sizes = [num_inputs, *hidden_sizes]
        modules: list[nn.Module] = []
        for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
            modules.append(nn.Linear(n_in, n_out))
            modules.append(_ACTIVATION_LAYERS[activation]())
        modules.append(nn.Linear(sizes[-1], num_outputs))
        self.layers = nn.Sequential(*modules)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(x)


@dataclass(frozen=True)
class Architecture:
    """The shape of an MLP as read from its weights."""

    inputs: int
    hidden_sizes: tuple[int, ...]
    outputs: int

    @property
    def parameters(self) -> int:
        sizes = [self.inputs, *self.hidden_sizes, self.outputs]
        return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))

    def build(self, activation: str = "relu") -> NeuralNetwork:
        return NeuralNetwork(self.inputs, self.outputs, self.hidden_sizes, activation)


# Held while torch's global generator is seeded and drawn from (a model's construction, a batch plan's
# look-ahead): the window builds models and plans on several threads, and one thread's manual_seed in
# the middle of another's construction would silently give that run other starting weights.
SEED_LOCK = threading.RLock()


def build_model(num_inputs: int, num_outputs: int, hidden_sizes, activation: str, seed: int | None) -> NeuralNetwork:
    """Seed the global generator right before building, exactly as the book does."""
    with SEED_LOCK:
        if seed is not None:
            torch.manual_seed(seed)
        return NeuralNetwork(num_inputs, num_outputs, tuple(hidden_sizes), activation)


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def architecture_from_state_dict(state: dict) -> Architecture:
    """Read inputs, hidden sizes and outputs from `layers.{2k}.weight/bias` shapes.

    Expects canonical keys (`layers.N.weight`, `layers.N.bias`); raises ArchitectureError with
    a plain-words reason when the keys or shapes are not a chain of Linear layers.
    """
    if not state:
        raise ArchitectureError("it holds no weights")
    indices: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in state.items():
        parts = key.split(".") if isinstance(key, str) else []
        # A canonical ASCII index only: isdigit() and int() also take "00" and other scripts' digits,
        # which would let two keys name one layer and one silently replace the other.
        index_ok = len(parts) == 3 and parts[1].isascii() and parts[1].isdigit() and (parts[1] == "0" or parts[1][0] != "0")
        if not index_ok or parts[0] != "layers" or parts[2] not in ("weight", "bias"):
            raise ArchitectureError(f"it has a weight named {key!r}, which is not a layer of an MLP (expected layers.N.weight)")
        indices.setdefault(int(parts[1]), {})[parts[2]] = value
    order = sorted(indices)
    expected = list(range(0, 2 * len(order), 2))
    if order != expected:
        raise ArchitectureError(
            f"its linear layers sit at positions {order}; an MLP built as Linear, activation, Linear, ... has them at {expected}"
        )
    sizes: list[int] = []
    for n, idx in enumerate(order):
        layer = indices[idx]
        if "weight" not in layer or "bias" not in layer:
            missing = "weight" if "weight" not in layer else "bias"
            raise ArchitectureError(f"layer layers.{idx} has no {missing}")
        w, b = layer["weight"], layer["bias"]
        if not isinstance(w, torch.Tensor) or not isinstance(b, torch.Tensor):
            raise ArchitectureError(f"layer layers.{idx} holds something other than tensors")
        if w.dim() != 2 or b.dim() != 1 or b.shape[0] != w.shape[0]:
            raise ArchitectureError(
                f"layer layers.{idx} has weight shape {tuple(w.shape)} and bias shape {tuple(b.shape)}, not those of a Linear layer"
            )
        if w.shape[0] == 0 or w.shape[1] == 0:
            raise ArchitectureError(f"layer layers.{idx} has an empty weight of shape {tuple(w.shape)}")
        if n == 0:
            sizes.append(int(w.shape[1]))
        elif w.shape[1] != sizes[-1]:
            raise ArchitectureError(
                f"layer layers.{idx} expects {w.shape[1]} inputs but the layer before it gives {sizes[-1]}: the shapes do not chain"
            )
        sizes.append(int(w.shape[0]))
    return Architecture(inputs=sizes[0], hidden_sizes=tuple(sizes[1:-1]), outputs=sizes[-1])
