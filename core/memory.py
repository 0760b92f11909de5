"""How much memory training a model needs and how much this machine has; torch-free, so the settings form
can refuse a model too big for the machine before torch has even loaded."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from core.errors import TrainingError

FLOAT32_BYTES = 4
# Below this a model fits any machine the app runs on: the form skips reading the OS on every change.
_SURELY_FITS = 64 * 2**20


@dataclass(frozen=True)
class MemoryInfo:
    """The machine's memory in bytes; None where the OS does not say."""

    total: int | None  # RAM, or the container's limit where that is lower
    available: int | None  # what a new allocation can still get now


def read_memory() -> MemoryInfo:
    """Total and available RAM from /proc/meminfo (Linux) or os.sysconf, capped by a cgroup limit."""
    total = available = None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            info = {line.split(":")[0]: line.split()[1] for line in f if ":" in line and len(line.split()) > 1}
        total = int(info["MemTotal"]) * 1024
        available = int(info.get("MemAvailable", info.get("MemFree", "0"))) * 1024 or None
    except (OSError, KeyError, ValueError):
        pass
    if total is None:
        total = _sysconf_bytes("SC_PHYS_PAGES")
    if available is None:
        available = _sysconf_bytes("SC_AVPHYS_PAGES")  # free pages only: a lower bound
    limit, used = _cgroup_limit()
    if limit is not None:
        total = limit if total is None else min(total, limit)
        room = max(0, limit - (used or 0))
        available = room if available is None else min(available, room)
    return MemoryInfo(total, available)


def _sysconf_bytes(name: str) -> int | None:
    try:
        pages, size = os.sysconf(name), os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        return None
    return pages * size if pages > 0 and size > 0 else None


def _cgroup_limit() -> tuple[int | None, int | None]:
    """The container's memory limit and use (cgroup v2, then v1); None where there is none."""
    for limit_file, used_file in (
        ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory.current"),
        ("/sys/fs/cgroup/memory/memory.limit_in_bytes", "/sys/fs/cgroup/memory/memory.usage_in_bytes"),
    ):
        try:
            with open(limit_file, encoding="ascii") as f:
                text = f.read().strip()
        except OSError:
            continue
        if not text.isdigit() or int(text) >= 2**60:  # "max", or v1's "no limit" sentinel
            return None, None
        try:
            with open(used_file, encoding="ascii") as f:
                used = int(f.read().strip())
        except (OSError, ValueError):
            used = None
        return int(text), used
    return None, None


def parameter_count(inputs: int, hidden_sizes: Sequence[int], outputs: int) -> int:
    """Weights and biases of the MLP inputs -> hidden_sizes... -> outputs."""
    sizes = [inputs, *hidden_sizes, outputs]
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def optimizer_state_copies(optimizer: str, momentum: float = 0.0) -> int:
    """Tensors the optimizer keeps per parameter: Adam's two running averages, SGD's momentum buffer (core.optimizers)."""
    from core.optimizers import OPTIMIZERS_BY_NAME

    spec = OPTIMIZERS_BY_NAME.get(optimizer)
    return spec.state_copies(momentum) if spec is not None else 2


def estimate_training_bytes(inputs: int, hidden_sizes: Sequence[int], outputs: int, optimizer: str,
                            momentum: float = 0.0) -> int:
    """Bytes that training needs for float32 weights, their gradients and the optimizer's state.

    A lower bound: a batch's activations and the data come on top, but for a model big enough to fail
    these three copies of every parameter are what does not fit.
    """
    return FLOAT32_BYTES * parameter_count(inputs, hidden_sizes, outputs) * (2 + optimizer_state_copies(optimizer, momentum))


def training_memory_problem(inputs: int, hidden_sizes: Sequence[int], outputs: int, optimizer: str,
                            momentum: float = 0.0, *, memory: MemoryInfo | Callable[[], MemoryInfo] | None = None,
                            at_least: bool = False) -> str | None:
    """Why the machine cannot train this model (it needs more memory than is available), or None.

    `memory` is what the machine has (default: read from the OS); `at_least` says inputs and outputs are
    lower bounds (a CSV file not read yet).
    """
    need = estimate_training_bytes(inputs, hidden_sizes, outputs, optimizer, momentum)
    if memory is None and need < _SURELY_FITS:
        return None
    info = memory() if callable(memory) else memory if memory is not None else read_memory()
    have = info.available if info.available is not None else info.total
    if have is None or need <= have:
        return None
    bound = "at least " if at_least else ""
    of_total = f" (of {_size(info.total)} in all)" if info.total is not None and info.total != have else ""
    what = "weights, gradients and optimizer state" if optimizer_state_copies(optimizer, momentum) else "weights and gradients"
    return (
        f"hidden_sizes: a model with {bound}{inputs} inputs, hidden sizes {list(hidden_sizes)} and {bound}{outputs} "
        f"outputs has {bound}{parameter_count(inputs, hidden_sizes, outputs):,} parameters; training it with "
        f"{optimizer} needs {bound}{_size(need)} for its float32 {what}, but this machine has "
        f"{_size(have)} of memory free{of_total}: use fewer or smaller hidden layers"
    )


def check_training_memory(inputs: int, hidden_sizes: Sequence[int], outputs: int, optimizer: str,
                          momentum: float = 0.0, *, memory: MemoryInfo | Callable[[], MemoryInfo] | None = None) -> None:
    """Raise TrainingError, before any model is built, when training it would need more memory than there is."""
    problem = training_memory_problem(inputs, hidden_sizes, outputs, optimizer, momentum, memory=memory)
    if problem is not None:
        raise TrainingError(problem)


def _size(n: int) -> str:
    if n >= 2**30:
        return f"{n / 2**30:,.1f} GiB"
    return f"{n / 2**20:,.1f} MiB"
