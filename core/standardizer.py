"""Per-feature z-scoring fitted on the training split, kept in model files so predict applies the same."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from core.errors import DataError

_FLOAT32_EPS = float(torch.finfo(torch.float32).eps)
_FLOAT32_TINY = float(torch.finfo(torch.float32).tiny)


@dataclass(frozen=True)
class Standardizer:
    """Per-feature z-scoring with statistics from the training split; stored in model files so predict can apply it."""

    mean: tuple[float, ...]
    std: tuple[float, ...]

    @classmethod
    def fit(cls, X: torch.Tensor) -> Standardizer:
        """Mean and (population) std of each column of `X`; a column without spread gets std 1 so it maps to 0.

        "Without spread" is a std under float32's resolution at the column's size (or under its smallest
        normal number): what is left of such a column in float32 is rounding, and dividing by that std
        would blow rounding up to huge values (or to inf: 1e-300 is 0 in float32). Std 1, not a refusal: a
        constant column is common (an all-zero pixel in digits) and harmless, its weights learn nothing."""
        if X.dim() != 2 or X.shape[0] == 0:
            raise DataError(f"cannot fit a standardizer to data of shape {tuple(X.shape)}: it needs at least one row of features")
        x64 = X.detach().to("cpu", torch.float64)
        mean = x64.mean(dim=0)
        std = x64.std(dim=0, unbiased=False)
        floor = torch.clamp(mean.abs() * _FLOAT32_EPS, min=_FLOAT32_TINY)
        std = torch.where(std > floor, std, torch.ones_like(std))
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
            raise DataError("cannot standardize: the features hold values too large for their mean and spread to be finite")
        return cls(tuple(float(v) for v in mean), tuple(float(v) for v in std))

    def apply(self, X: torch.Tensor) -> torch.Tensor:
        """(X - mean) / std as a float32 tensor on X's device."""
        if X.dim() != 2 or X.shape[1] != len(self.mean):
            raise DataError(f"the standardizer expects {len(self.mean)} features per row, got data of shape {tuple(X.shape)}")
        mean = torch.tensor(self.mean, dtype=torch.float32, device=X.device)
        std = torch.tensor(self.std, dtype=torch.float32, device=X.device)
        return ((X.to(torch.float32) - mean) / std).contiguous()

    def to_dict(self) -> dict[str, list[float]]:
        return {"mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: Any) -> Standardizer:
        """Rebuild from `to_dict()` output (e.g. read from a model file), checking every value."""
        if not isinstance(d, dict) or "mean" not in d or "std" not in d:
            raise DataError("the standardizer must be an object with 'mean' and 'std' lists")
        mean = _finite_floats(d["mean"], "mean")
        std = _finite_floats(d["std"], "std")
        if len(mean) != len(std):
            raise DataError(f"the standardizer has {len(mean)} means but {len(std)} standard deviations")
        if not mean:
            raise DataError("the standardizer has no features")
        if any(s <= 0 for s in std):
            raise DataError("the standardizer's standard deviations must all be greater than 0")
        if any(s < _FLOAT32_TINY for s in std):
            raise DataError(f"a standard deviation of the standardizer is too small to divide by in float32 (under {_FLOAT32_TINY:.3g})")
        return cls(mean, std)


def _finite_floats(values: Any, what: str) -> tuple[float, ...]:
    if not isinstance(values, (list, tuple)):
        raise DataError(f"the standardizer's {what} must be a list of numbers, got {type(values).__name__}")
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise DataError(f"the standardizer's {what}[{i}] must be a finite number, got {v!r}")
        out.append(float(v))
    return tuple(out)
