"""Which devices this machine can train on (cpu, cuda:N, mps), why an absent one is absent, and `auto`.

torch is imported where it is asked, not with this module: the window lists its device choices
before torch has loaded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.errors import DeviceError

if TYPE_CHECKING:
    import torch

__all__ = ["DeviceError", "DeviceInfo", "Probe", "list_devices", "probe_torch", "resolve_device"]


@dataclass(frozen=True)
class DeviceInfo:
    name: str  # what the config says: "cpu", "cuda:0", "mps"
    label: str  # what a person reads: "cuda:0 (NVIDIA H100)"
    available: bool
    reason: str = ""  # why it is not available, in plain words


@dataclass(frozen=True)
class Probe:
    """What torch reports; injectable so the cuda/mps paths are testable on a CPU-only machine."""

    cuda_built: bool
    cuda_count: int
    cuda_names: tuple[str, ...]
    mps_built: bool
    mps_available: bool


def probe_torch() -> Probe:
    import torch

    cuda_built = torch.backends.cuda.is_built()
    count = torch.cuda.device_count() if cuda_built and torch.cuda.is_available() else 0
    names = tuple(torch.cuda.get_device_name(i) for i in range(count))
    mps = getattr(torch.backends, "mps", None)
    mps_built = bool(mps and mps.is_built())
    return Probe(cuda_built, count, names, mps_built, bool(mps_built and mps.is_available()))


def list_devices(probe: Probe | Callable[[], Probe] | None = None) -> list[DeviceInfo]:
    """cpu first, then one entry per CUDA device (or one unavailable `cuda` with the reason), then mps."""
    p = _resolve(probe)
    out = [DeviceInfo("cpu", "cpu", True)]
    if p.cuda_count:
        out += [DeviceInfo(f"cuda:{i}", f"cuda:{i} ({p.cuda_names[i]})", True) for i in range(p.cuda_count)]
    else:
        why = (
            "this PyTorch build has no CUDA support (a CPU-only wheel)"
            if not p.cuda_built
            else "PyTorch has CUDA support but finds no NVIDIA GPU or driver"
        )
        out.append(DeviceInfo("cuda", "cuda", False, why))
    if p.mps_available:
        out.append(DeviceInfo("mps", "mps (Apple GPU)", True))
    else:
        why = (
            "this PyTorch build has no MPS support (MPS needs macOS on Apple silicon)"
            if not p.mps_built
            else "MPS is built in but this Mac cannot use it"
        )
        out.append(DeviceInfo("mps", "mps", False, why))
    return out


def resolve_device(name: str, probe: Probe | Callable[[], Probe] | None = None) -> torch.device:
    """Map a config device name to a usable torch.device, or raise DeviceError saying why not."""
    import torch

    p = _resolve(probe)
    if name == "auto":
        if p.cuda_count:
            return torch.device("cuda:0")
        if p.mps_available:
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cpu":
        return torch.device("cpu")
    devices = {d.name: d for d in list_devices(p)}
    if name in ("cuda", "cuda:0") and p.cuda_count:
        return torch.device("cuda:0")
    if name.startswith("cuda"):
        if not p.cuda_count:
            raise DeviceError(f"device {name}: not available: {devices['cuda'].reason}")
        if name not in devices:
            raise DeviceError(f"device {name}: this machine has {p.cuda_count} CUDA device(s), cuda:0 to cuda:{p.cuda_count - 1}")
        return torch.device(name)
    if name == "mps":
        if not p.mps_available:
            raise DeviceError(f"device mps: not available: {devices['mps'].reason}")
        return torch.device("mps")
    raise DeviceError(f"device {name!r}: unknown; use auto, cpu, cuda, cuda:N or mps")


def _resolve(probe: Probe | Callable[[], Probe] | None) -> Probe:
    if probe is None:
        return probe_torch()
    return probe() if callable(probe) else probe
