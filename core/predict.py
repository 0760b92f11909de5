"""Predictions of a model for rows of features: logits in eval mode under no_grad, chunk by chunk, and softmax."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from core.data import Standardizer
from core.errors import DataError

# Rows per forward pass: a split of millions of rows through wide layers would otherwise build
# activations of gigabytes at once; 65,536 rows of a 1,000-wide layer are 256 MB of float32.
PREDICT_CHUNK = 65_536


class NonFiniteError(DataError):
    """An input float32 cannot hold, or a model output that is inf or NaN: no class can be read from it
    (argmax of NaNs is class 0, a confident-looking wrong answer). The message names the input, 1-based."""


@dataclass(frozen=True, eq=False)
class Predictions:
    """What a model says about n rows, as plain numpy: the table, the CLI and the plots read these."""

    logits: np.ndarray  # (n, k) float64 (the model's float32 values, widened)
    probabilities: np.ndarray  # (n, k) float64, softmax of the logits
    predicted: np.ndarray  # (n,) int64, the class with the largest logit (the first on a tie)


def predict_logits(
    model: nn.Module,
    X: Any,
    *,
    standardizer: Standardizer | Mapping[str, Any] | None = None,
    chunk: int = PREDICT_CHUNK,
    check_finite: bool = True,
) -> torch.Tensor:
    """The model's logits for rows of features, as a float32 cpu tensor of shape (n, k).

    `X` (a tensor, array or nested list of shape (n, f)) is taken as raw features: `standardizer`, the
    data's own (or its `to_dict()` form from a model file), is applied first, as at training time; pass
    None for features already in the model's space. Runs on the device the model's weights are on, in
    eval mode and under no_grad (the book's way to predict), `chunk` rows at a time, and puts the model
    back in the mode it was in.

    With `check_finite` (the default) an input beyond float32's range or an inf/NaN output raises
    NonFiniteError naming the first such input; pass False where non-finite values are shown as they are.
    """
    if isinstance(standardizer, Mapping):
        standardizer = Standardizer.from_dict(dict(standardizer))
    X = torch.as_tensor(X, dtype=torch.float32)
    if X.dim() != 2:
        raise ValueError(f"predictions need rows of features (a 2-D array), got data of shape {tuple(X.shape)}")
    if check_finite:
        _first_non_finite(X, "input {row} holds a value that float32 cannot hold (beyond ±3.4e38, or not a number)")
    device = next(model.parameters(), torch.empty(0)).device
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            # range(max(n, 1)): an empty X still gives a (0, k) result, through the model.
            parts = [_forward(model, X[start : start + chunk], standardizer, device) for start in range(0, max(len(X), 1), chunk)]
    finally:
        model.train(was_training)
    logits = parts[0] if len(parts) == 1 else torch.cat(parts)
    if check_finite:
        _first_non_finite(
            logits,
            "the model's output for input {row} is not finite (inf/NaN): its weights or its standardization "
            "take this input beyond float32's range",
        )
    return logits


def _first_non_finite(t: torch.Tensor, message: str) -> None:
    bad = ~torch.isfinite(t).all(dim=1)
    if bool(bad.any()):
        raise NonFiniteError(message.format(row=int(bad.nonzero()[0, 0]) + 1))


def _forward(model: nn.Module, xb: torch.Tensor, standardizer: Standardizer | None, device: torch.device) -> torch.Tensor:
    if standardizer is not None:
        xb = standardizer.apply(xb)  # where the rows are, as the data was standardized when it was made
    return model(xb.to(device)).to("cpu", torch.float32)


def softmax_np(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis in float64, shifted by the row's maximum so that large logits cannot overflow."""
    z = np.asarray(logits, dtype=np.float64)
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def predict(
    model: nn.Module, X: Any, *, standardizer: Standardizer | Mapping[str, Any] | None = None, chunk: int = PREDICT_CHUNK
) -> Predictions:
    """`predict_logits` with the probabilities and the predicted classes, as numpy."""
    logits = predict_logits(model, X, standardizer=standardizer, chunk=chunk).numpy().astype(np.float64)
    return Predictions(logits=logits, probabilities=softmax_np(logits), predicted=logits.argmax(axis=-1))
