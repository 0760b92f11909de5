"""The model the window holds (a trainer, or weights read from a file), and what can be computed from it; no Qt."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from core.config import TrainConfig
from core.history import History

if TYPE_CHECKING:  # torch and what needs it are imported where used: the window is built before torch loads
    import torch

    from core.data import DataSplit, Standardizer
    from core.model import Architecture, NeuralNetwork
    from core.training import Trainer

# The predictions table stops here (its cells are formatted only when shown, so rows cost little).
MAX_TABLE_ROWS = 100_000


def fits_data(arch: Architecture, data: DataSplit) -> str | None:
    """None when the weights fit the data's shape, else a sentence saying what does not fit."""
    if arch.inputs == data.num_features and arch.outputs == data.num_classes:
        return None
    return (
        f"the model takes {arch.inputs} input(s) and gives {arch.outputs} output(s), but the {data.name} data has "
        f"{data.num_features} feature(s) and {data.num_classes} class(es): choose a data set with {arch.inputs} "
        f"features and {arch.outputs} classes to evaluate or train it"
    )


def same_model_shape(a: TrainConfig, b: TrainConfig) -> bool:
    """Whether a model trained under `a` can go on training under `b` (same data and layers)."""
    return a.dataset == b.dataset and tuple(a.hidden_sizes) == tuple(b.hidden_sizes) and a.activation == b.activation


@dataclass
class FileWeights:
    """Weights opened from a file that are not (yet) bound to data: predictable, continuable once the data fits."""

    path: str
    state_dict: dict
    architecture: Architecture
    activation: str
    optimizer_state: Any
    history: dict | None
    standardizer: dict | None
    class_names: tuple[str, ...] | None
    feature_names: tuple[str, ...] | None
    config: TrainConfig  # the settings it came with, or the form's with its layer sizes

    def model(self) -> NeuralNetwork:
        net = self.architecture.build(self.activation)
        net.load_state_dict(self.state_dict)
        net.eval()
        return net


@dataclass(frozen=True)
class PredictionTable:
    """Predictions on the test split, ready to show: raw features, logits, probabilities, classes."""

    features: np.ndarray  # (n, f) as the user typed or the file held them (standardization undone)
    logits: np.ndarray  # (n, k)
    probabilities: np.ndarray  # (n, k)
    predicted: np.ndarray  # (n,)
    true: np.ndarray  # (n,)
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    total: int  # rows in the split (the arrays may hold fewer, see MAX_TABLE_ROWS)
    correct: int  # over all `total` rows

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")


def _raw_features(X: torch.Tensor, standardizer: Standardizer | None) -> np.ndarray:
    x = X.detach().cpu().numpy().astype(np.float64)
    if standardizer is not None:
        x = x * np.asarray(standardizer.std) + np.asarray(standardizer.mean)
    return x


def predict_test_split(trainer: Trainer, limit: int = MAX_TABLE_ROWS) -> PredictionTable | None:
    """The trainer's predictions on its test split (training split when there is no test split)."""
    data = trainer.data
    X, y = (data.X_test, data.y_test) if data.X_test.shape[0] else (data.X_train, data.y_train)
    if X.shape[0] == 0:
        return None
    logits = trainer.predict(X, raw=False).numpy().astype(np.float64)
    probs = _softmax(logits)
    pred = logits.argmax(axis=1)
    true = y.cpu().numpy()
    return PredictionTable(
        features=_raw_features(X[:limit], data.standardizer),
        logits=logits[:limit],
        probabilities=probs[:limit],
        predicted=pred[:limit],
        true=true[:limit],
        feature_names=tuple(data.feature_names),
        class_names=tuple(data.class_names),
        total=int(X.shape[0]),
        correct=int((pred == true).sum()),
    )


def _softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def predict_rows(rows: np.ndarray, trainer: Trainer | None = None, weights: FileWeights | None = None) -> np.ndarray:
    """Logits for raw feature rows (the data's standardization applied first, as at training time)."""
    import torch

    from core.data import Standardizer

    X = torch.as_tensor(np.asarray(rows, dtype=np.float32))
    if trainer is not None:
        return trainer.predict(X, raw=True).numpy().astype(np.float64)
    if weights is None:
        raise ValueError("there is no model: train one or open a model file")
    if weights.standardizer:
        X = Standardizer.from_dict(weights.standardizer).apply(X)
    with torch.no_grad():
        return weights.model()(X).numpy().astype(np.float64)


def softmax(logits: np.ndarray) -> np.ndarray:
    return _softmax(np.atleast_2d(logits))


def parse_feature_row(text: str, n_features: int) -> np.ndarray:
    """'1.0, -2' -> array([[1., -2.]]); DataError (a ValueError) with a plain reason otherwise."""
    from core.data import parse_features

    return np.asarray([parse_features(text, n_features)], dtype=np.float64)


def history_of(trainer: Trainer | None, weights: FileWeights | None) -> History:
    if trainer is not None:
        return trainer.history
    if weights is not None:
        return History.from_dict(weights.history)
    return History()
