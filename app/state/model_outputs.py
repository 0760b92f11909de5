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
# Principal components of data with 3+ features are fitted on an even sample of the training split: at
# most PCA_FIT_ROWS rows and PCA_FIT_VALUES values (wide data gets fewer rows, never under PCA_MIN_FIT_ROWS).
PCA_FIT_ROWS = 10_000
PCA_FIT_VALUES = 4_000_000
PCA_MIN_FIT_ROWS = 500
EXACT_SVD = 300  # up to this many features (or rows) an exact SVD; wider data a randomized one


@dataclass(frozen=True, eq=False)
class Projection:
    """Two principal components of the training split (model space): where data of 3+ features is drawn."""

    mean: np.ndarray  # (f,) float64
    components: np.ndarray  # (2, f) float64, unit rows (a zero row when there is no second direction)
    explained: tuple[float, float]  # each component's share of the total variance, 0..1
    fit_rows: int  # training rows the components were fitted on (an even sample of a big split)

    def apply(self, X: np.ndarray) -> np.ndarray:
        """Rows of model-space features -> (n, 2) plane coordinates."""
        return (np.asarray(X, dtype=np.float64) - self.mean) @ self.components.T


def principal_components(X: np.ndarray, count: int = 2, seed: int = 0) -> Projection:
    """The `count` leading principal components of the rows of X (the right singular vectors of the centred rows).

    Signs are fixed, each component's largest-magnitude loading positive (ties: the first), so the
    same data gives the same picture every time. Components the data lacks (one feature, one row) are
    zero rows. Up to EXACT_SVD features: eigenvectors of the scatter matrix; up to EXACT_SVD rows: an
    SVD; wider data a seeded randomized SVD (a few power iterations on a 12-column subspace, equal to
    the exact components within rounding for data with a clear gap after its second component, and
    O(n f) instead of O(n f min(n, f))).
    """
    C = np.asarray(X, dtype=np.float64)
    n, f = C.shape
    mean = C.mean(axis=0) if n else np.zeros(f)
    C = C - mean
    total = float(np.einsum("ij,ij->", C, C))
    k = min(count, n, f)
    components = np.zeros((count, f))
    variance = np.zeros(count)
    if k and total > 0:
        if f <= EXACT_SVD:
            # The eigenvectors of the f x f scatter matrix: the SVD's right vectors at a fraction of its cost
            # (10,000 x 64 rows: 4 ms against 350 ms for np.linalg.svd, which also makes the left vectors).
            values, vectors = np.linalg.eigh(C.T @ C)
            top = np.argsort(values)[::-1][:k]
            components[:k] = vectors[:, top].T
            variance[:k] = np.clip(values[top], 0.0, None)
        else:
            s, vt = np.linalg.svd(C, full_matrices=False)[1:] if n <= EXACT_SVD else _randomized_svd(C, k, seed)
            components[:k] = vt[:k]
            variance[:k] = s[:k] ** 2
    for row in components:
        top = int(np.argmax(np.abs(row)))
        if row[top] < 0:
            row *= -1
    explained = np.clip(variance / total, 0.0, 1.0) if total > 0 else variance
    return Projection(mean=mean, components=components, explained=(float(explained[0]), float(explained[1])),
                      fit_rows=int(n))


def _randomized_svd(C: np.ndarray, k: int, seed: int, oversample: int = 10, iterations: int = 6):
    """The top singular values and right vectors of C by subspace iteration (Halko et al. 2011)."""
    rng = np.random.default_rng(seed)
    Q = np.linalg.qr(C @ rng.standard_normal((C.shape[1], k + oversample)))[0]
    for _ in range(iterations):
        Q = np.linalg.qr(C @ np.linalg.qr(C.T @ Q)[0])[0]
    _, s, vt = np.linalg.svd(Q.T @ C, full_matrices=False)
    return s, vt


@dataclass(frozen=True, eq=False)
class DataPoints:
    """An even sample of a data split's points for the scatter, in the plot's plane, with the bounds of the whole split.

    2-D data is drawn as it is; other data as its two principal components (`projection`)."""

    key: object  # what the points show (a DatasetConfig), so the same data is not drawn twice
    xy_train: np.ndarray  # (<= MAX_POINTS, 2) float: the features (2-D data, model space) or their projection
    y_train: np.ndarray
    xy_test: np.ndarray
    y_test: np.ndarray
    num_features: int
    feature_names: tuple[str, ...]
    class_count: int
    standardized: bool
    bounds: tuple[tuple[float, float], tuple[float, float]] | None  # ((x0, x1), (y0, y1)) of all points, 2-D only
    train_samples: int  # rows in the whole training split
    test_samples: int = 0  # rows in the whole test split
    train_index: np.ndarray | None = None  # the split's row of each drawn point (to find its prediction)
    test_index: np.ndarray | None = None
    projection: Projection | None = None  # None for 2-D data

    def plane_bounds(self) -> tuple[tuple[float, float], tuple[float, float]] | None:
        """The drawn plane's extent: the whole split's for 2-D data, the drawn points' for a projection."""
        if self.bounds is not None:
            return self.bounds
        xy = np.concatenate([self.xy_train, self.xy_test])
        if not xy.shape[0]:
            return None
        lo, hi = xy.min(axis=0), xy.max(axis=0)
        return (float(lo[0]), float(hi[0])), (float(lo[1]), float(hi[1]))


def _sample_index(n: int, limit: int) -> np.ndarray:
    return np.linspace(0, n - 1, limit).astype(np.int64) if n > limit else np.arange(n, dtype=np.int64)


def _rows(X: torch.Tensor, index: np.ndarray) -> np.ndarray:
    if index.shape[0] == X.shape[0]:
        return X.cpu().numpy()
    import torch

    return X.index_select(0, torch.from_numpy(index).to(X.device)).cpu().numpy()


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
    """What the scatter shows of `data`: at most `limit` points a split (the whole split's bounds kept);
    data that is not 2-D projected on the principal components of (an even sample of) its training split."""
    n_train, n_test, f = int(data.X_train.shape[0]), int(data.X_test.shape[0]), data.num_features
    train_index, test_index = _sample_index(n_train, limit), _sample_index(n_test, limit)
    X_train, X_test = _rows(data.X_train, train_index), _rows(data.X_test, test_index)
    projection = None
    if f == 2:
        xy_train, xy_test = X_train, X_test
    else:
        fit_rows = min(PCA_FIT_ROWS, max(PCA_MIN_FIT_ROWS, PCA_FIT_VALUES // max(f, 1)))
        fit_index = _sample_index(n_train, fit_rows)
        fit = X_train if np.array_equal(fit_index, train_index) else _rows(data.X_train, fit_index)
        projection = principal_components(fit)
        xy_train, xy_test = projection.apply(X_train), projection.apply(X_test)
    return DataPoints(
        key=key, xy_train=xy_train, y_train=_rows(data.y_train, train_index), xy_test=xy_test,
        y_test=_rows(data.y_test, test_index), num_features=f, feature_names=tuple(data.feature_names),
        class_count=data.num_classes, standardized=data.standardizer is not None, bounds=data_bounds(data),
        train_samples=n_train, test_samples=n_test, train_index=train_index, test_index=test_index,
        projection=projection,
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
    probs = torch.softmax(trainer.predict(pts, raw=False, check_finite=False).float(), dim=1)  # a diverged run's NaNs are drawn blank
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
    # Over all `total` rows (None: count the rows held): confusion[t, p] = samples of true class t predicted p.
    confusion: np.ndarray | None = None
    all_predicted: np.ndarray | None = None  # (total,) every row's predicted class, to mark the plot's points
    key: object = None  # the data predicted (a DatasetConfig), matched against the plot's DataPoints.key

    @property
    def accuracy(self) -> float:
        return self.correct / self.total if self.total else float("nan")

    def confusion_matrix(self) -> np.ndarray:
        """(k, k) counts, rows the true class, columns the predicted one: over the whole split when known."""
        if self.confusion is not None:
            return self.confusion
        return confusion_counts(self.true, self.predicted, self.logits.shape[1])


def confusion_counts(true: np.ndarray, predicted: np.ndarray, classes: int) -> np.ndarray:
    """(classes, classes) int64 counts: [t, p] = how many samples of true class t were predicted p."""
    true = np.asarray(true, dtype=np.int64)
    predicted = np.asarray(predicted, dtype=np.int64)
    k = max(classes, int(true.max()) + 1 if true.size else 0, int(predicted.max()) + 1 if predicted.size else 0)
    return np.bincount(true * k + predicted, minlength=k * k).reshape(k, k)


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

    logits = trainer.predict(X, raw=False, check_finite=False).numpy()  # a diverged model's NaNs shown as they are
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
        confusion=confusion_counts(true, pred, logits.shape[1]),
        all_predicted=pred.astype(np.int16 if logits.shape[1] <= np.iinfo(np.int16).max else np.int64),
        key=trainer.cfg.dataset,
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
