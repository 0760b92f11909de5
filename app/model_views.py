"""What the views show of data and a model, computed off the GUI thread as plain numpy: points, regions, predictions. No Qt."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch and what needs it are imported where used: the window is built before torch loads
    import torch

    from core.data import DataSplit, Standardizer
    from core.training import Trainer

# A scatter of more points than this is slow and unreadable: larger splits are drawn as an even sample.
MAX_POINTS = 2000
# The predictions table stops here (its cells are formatted only when shown, so rows cost little).
MAX_TABLE_ROWS = 100_000
REGION_GRID = 90
# A grid costs grid^2 forward passes: a wide model gets a coarser grid (never under REGION_MIN_GRID)
# so that its regions take about as long as the book's model's 90 x 90 (a 134 MB model: 3 s at 90).
REGION_MIN_GRID = 24
REGION_BUDGET = 200_000_000  # multiply-adds
# Work below this many multiply-adds (points x parameters) takes well under a millisecond here, so
# it is done at once in the GUI thread; anything larger goes to a worker thread.
INLINE_WORK = 5_000_000


@dataclass(frozen=True, eq=False)
class DataPoints:
    """An even sample of a data split's points for the scatter, with the bounds of the whole split."""

    key: object  # what the points show (a DatasetConfig), so the same data is not drawn twice
    X_train: np.ndarray  # (<= MAX_POINTS, f) float32, model space (standardized when the data is)
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    num_features: int
    feature_names: tuple[str, ...]
    class_count: int
    standardized: bool
    bounds: tuple[tuple[float, float], tuple[float, float]] | None  # ((x0, x1), (y0, y1)) of all points, 2-D only
    train_samples: int  # rows in the whole training split


def _sample(X: torch.Tensor, y: torch.Tensor, limit: int) -> tuple[np.ndarray, np.ndarray]:
    n = X.shape[0]
    if n > limit:
        idx = np.linspace(0, n - 1, limit).astype(np.int64)
        import torch

        index = torch.from_numpy(idx)
        return X.index_select(0, index).cpu().numpy(), y.index_select(0, index).cpu().numpy()
    return X.cpu().numpy(), y.cpu().numpy()


def data_bounds(data: DataSplit) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Each feature's (min, max) over both splits, for 2-D data."""
    if data.num_features != 2 or data.X_train.shape[0] == 0:
        return None
    lo = data.X_train.amin(dim=0)
    hi = data.X_train.amax(dim=0)
    if data.X_test.shape[0]:
        import torch

        lo = torch.minimum(lo, data.X_test.amin(dim=0))
        hi = torch.maximum(hi, data.X_test.amax(dim=0))
    lo_, hi_ = lo.tolist(), hi.tolist()
    return (lo_[0], hi_[0]), (lo_[1], hi_[1])


def data_points(data: DataSplit, key: object = None, limit: int = MAX_POINTS) -> DataPoints:
    """What the scatter shows of `data`: at most `limit` points a split (the whole split's bounds kept)."""
    X_train, y_train = _sample(data.X_train, data.y_train, limit)
    X_test, y_test = _sample(data.X_test, data.y_test, limit)
    return DataPoints(
        key=key, X_train=X_train, y_train=y_train, X_test=X_test, y_test=y_test,
        num_features=data.num_features, feature_names=tuple(data.feature_names), class_count=data.num_classes,
        standardized=data.standardizer is not None, bounds=data_bounds(data), train_samples=int(data.X_train.shape[0]),
    )


@dataclass(frozen=True)
class RegionSnapshot:
    """The model's predicted class and confidence over a grid of the 2-D feature plane (plain numpy)."""

    step: int
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    predicted: np.ndarray  # int (ny, nx)
    confidence: np.ndarray  # float (ny, nx), the winning class's probability


def region_grid(parameters: int) -> int:
    """The grid's side for a model of this many parameters (see REGION_BUDGET)."""
    return int(min(REGION_GRID, max(REGION_MIN_GRID, math.isqrt(REGION_BUDGET // max(parameters, 1)))))


def decision_regions(trainer: Trainer, grid: int | None = None, bounds=None) -> RegionSnapshot | None:
    """Predict every point of a grid over the (model-space) data; None unless the data is 2-D.

    `bounds` (see data_bounds) saves a pass over a big split when the caller already has them."""
    import torch

    from core.model import count_parameters

    bounds = bounds if bounds is not None else data_bounds(trainer.data)
    if bounds is None:
        return None
    grid = grid or region_grid(count_parameters(trainer.model))
    (x0, x1), (y0, y1) = bounds
    pad = [max((x1 - x0) * 0.1, 0.5), max((y1 - y0) * 0.1, 0.5)]
    xs = np.linspace(x0 - pad[0], x1 + pad[0], grid, dtype=np.float32)
    ys = np.linspace(y0 - pad[1], y1 + pad[1], grid, dtype=np.float32)
    gx, gy = np.meshgrid(xs, ys)
    pts = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1))
    probs = torch.softmax(trainer.predict(pts, raw=False).float(), dim=1)
    conf, pred = probs.max(dim=1)
    return RegionSnapshot(
        step=trainer.steps,
        x_range=(float(xs[0]), float(xs[-1])),
        y_range=(float(ys[0]), float(ys[-1])),
        predicted=pred.numpy().reshape(grid, grid),
        confidence=conf.numpy().reshape(grid, grid),
    )


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
    split: str = "test"  # "test", or "training" when there is no test split

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")


def _raw_features(X: torch.Tensor, standardizer: Standardizer | None) -> np.ndarray:
    x = X.detach().cpu().numpy().astype(np.float64)
    if standardizer is not None:
        x = x * np.asarray(standardizer.std) + np.asarray(standardizer.mean)
    return x


def predict_split(trainer: Trainer, limit: int = MAX_TABLE_ROWS, cancel: threading.Event | None = None) -> PredictionTable | None:
    """The trainer's predictions on its test split (the training split when there is no test split)."""
    data = trainer.data
    split = "test" if data.X_test.shape[0] else "training"
    X, y = (data.X_test, data.y_test) if split == "test" else (data.X_train, data.y_train)
    if X.shape[0] == 0:
        return None
    from core.predict import softmax_np

    logits = trainer.predict(X, raw=False).numpy()
    _check(cancel)
    pred = logits.argmax(axis=1)
    true = y.cpu().numpy()
    head = logits[:limit].astype(np.float64)
    return PredictionTable(
        features=_raw_features(X[:limit], data.standardizer),
        logits=head,
        probabilities=softmax_np(head),
        predicted=pred[:limit],
        true=true[:limit],
        feature_names=tuple(data.feature_names),
        class_names=tuple(data.class_names),
        total=int(X.shape[0]),
        correct=int((pred == true).sum()),
        split=split,
    )


@dataclass(frozen=True, eq=False)
class ModelViews:
    """Everything the views show of one model on its data."""

    points: DataPoints
    regions: RegionSnapshot | None
    predictions: PredictionTable | None


def model_views(trainer: Trainer, cancel: threading.Event | None = None) -> ModelViews:
    """Points, decision regions and predictions of a trainer's model on its data (runs in a worker)."""
    points = data_points(trainer.data, trainer.cfg.dataset)
    _check(cancel)
    regions = decision_regions(trainer, bounds=points.bounds)
    _check(cancel)
    return ModelViews(points, regions, predict_split(trainer, cancel=cancel))


def view_work(trainer: Trainer) -> int:
    """About how many multiply-adds model_views costs (to decide whether it may run in the GUI thread)."""
    from core.model import count_parameters

    rows = trainer.data.X_test.shape[0] or trainer.data.X_train.shape[0]
    parameters = count_parameters(trainer.model)
    grid = region_grid(parameters) ** 2 if trainer.data.num_features == 2 else 0
    return (rows + grid) * parameters + trainer.data.X_train.shape[0]


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        from core.errors import Cancelled

        raise Cancelled()
