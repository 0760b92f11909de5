"""The optimizers a config can name: one row each, read by the settings table, the trainer, the script, the memory
check and the form. Torch-free at import (torch is imported where an optimizer is built).

A new optimizer is one more row here: its torch class, the config settings it takes, the tensors it keeps
per parameter. Every argument the config does not set is torch's own default, so a run equals the plain
`torch.optim.<Class>(model.parameters(), lr=...)` loop bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class OptimizerSpec:
    """One optimizer: how a config builds it and what it costs."""

    name: str  # the config's word, e.g. "rmsprop"
    torch_class: str  # torch.optim.<torch_class>
    label: str  # what the form shows
    momentum: bool  # the config's momentum applies (SGD's and RMSprop's `momentum` argument)
    # Tensors it keeps per parameter, by the config's momentum: SGD's momentum buffer, Adam's two averages.
    state_copies: Callable[[float], int]
    # Written in the script even at 0: AdamW's own default weight decay is 0.01, the config's is 0.
    always_weight_decay: bool = False

    def kwargs(self, learning_rate: float, momentum: float, weight_decay: float) -> dict[str, Any]:
        """The arguments the config sets; everything else stays torch's default."""
        out: dict[str, Any] = {"lr": learning_rate}
        if self.momentum:
            out["momentum"] = momentum
        out["weight_decay"] = weight_decay
        return out

    def build(self, params, learning_rate: float, momentum: float = 0.0, weight_decay: float = 0.0) -> torch.optim.Optimizer:
        import torch

        return getattr(torch.optim, self.torch_class)(params, **self.kwargs(learning_rate, momentum, weight_decay))

    def script_line(self, learning_rate: float, momentum: float = 0.0, weight_decay: float = 0.0) -> str:
        """The book-style script's line (only the arguments that differ from torch's defaults)."""
        args = [f"lr={learning_rate!r}"]
        if self.momentum and momentum != 0:
            args.append(f"momentum={momentum!r}")
        if weight_decay != 0 or self.always_weight_decay:
            args.append(f"weight_decay={weight_decay!r}")
        return f"optimizer = torch.optim.{self.torch_class}(model.parameters(), {', '.join(args)})"


OPTIMIZER_SPECS = (
    OptimizerSpec("sgd", "SGD", "SGD", momentum=True, state_copies=lambda m: 1 if m else 0),
    OptimizerSpec("adam", "Adam", "Adam", momentum=False, state_copies=lambda m: 2),
    OptimizerSpec("adamw", "AdamW", "AdamW", momentum=False, state_copies=lambda m: 2, always_weight_decay=True),
    # square_avg, plus a momentum buffer when momentum is set (centered=False: torch's default).
    OptimizerSpec("rmsprop", "RMSprop", "RMSprop", momentum=True, state_copies=lambda m: 2 if m else 1),
    # the running sum of squared gradients.
    OptimizerSpec("adagrad", "Adagrad", "Adagrad", momentum=False, state_copies=lambda m: 1),
)
OPTIMIZERS_BY_NAME = {spec.name: spec for spec in OPTIMIZER_SPECS}
OPTIMIZERS = tuple(OPTIMIZERS_BY_NAME)


def optimizer_spec(name: str) -> OptimizerSpec:
    try:
        return OPTIMIZERS_BY_NAME[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}: one of {', '.join(OPTIMIZERS)}") from None
