"""The data sets the playground trains on: the book's toy set, generated 2-D sets, bundled real data and CSV files."""

from __future__ import annotations

import csv
import gzip
import math
import os
import threading
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import Dataset

from core.config import DatasetConfig
from core.csv_reader import read_csv  # CSV files: numpy's reader, the csv module for exact messages
from core.errors import Cancelled, DataError
from core.standardizer import Standardizer  # noqa: F401 (re-exported: model files and predict import it from here)

# Generated blobs keep this spread even at noise 0, so each class is a cloud, not a single point.
_BLOB_STD = 0.25

_IRIS_FEATURES = ("sepal length (cm)", "sepal width (cm)", "petal length (cm)", "petal width (cm)")


class ToyDataset(Dataset):
    """Appendix A's `ToyDataset`: indexes features and labels together."""

    def __init__(self, X: torch.Tensor, y: torch.Tensor):
        if X.shape[0] != y.shape[0]:
            raise DataError(f"features have {X.shape[0]} rows but labels have {y.shape[0]}")
        self.features = X
        self.labels = y

    def __getitem__(self, index):
        one_x = self.features[index]
        one_y = self.labels[index]
        return one_x, one_y

    def __len__(self) -> int:
        return self.features.shape[0]


@dataclass(frozen=True, eq=False)  # eq=False: tensors have no single truth value to compare
class DataSplit:
    """A data set split into train and test tensors, ready for the trainer."""

    name: str
    X_train: torch.Tensor  # float32 (n, f), contiguous, standardized when asked
    y_train: torch.Tensor  # int64 (n,), classes 0..k-1
    X_test: torch.Tensor  # float32 (m, f); m may be 0
    y_test: torch.Tensor  # int64 (m,)
    feature_names: tuple[str, ...]
    class_names: tuple[str, ...]
    standardizer: Standardizer | None  # fitted on the training split; None when not standardized

    @property
    def num_features(self) -> int:
        return int(self.X_train.shape[1])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


# --- the book's toy set -------------------------------------------------------------------------


def appendix_a() -> DataSplit:
    """Appendix A's five training and two test points, exactly as the book types them."""
    X_train = torch.tensor([[-1.2, 3.1], [-0.9, 2.9], [-0.5, 2.6], [2.3, -1.1], [2.7, -1.5]])
    y_train = torch.tensor([0, 0, 0, 1, 1])
    X_test = torch.tensor([[-0.8, 2.8], [2.6, -1.6]])
    y_test = torch.tensor([0, 1])
    return DataSplit("appendix-a", X_train, y_train, X_test, y_test, ("x1", "x2"), ("0", "1"), None)


# --- dispatch -----------------------------------------------------------------------------------


def load_dataset(cfg: DatasetConfig, cancel: threading.Event | None = None) -> DataSplit:
    """Make or read the data set `cfg` names, split it and standardize it when asked.

    Raises ConfigError for an invalid config and DataError for data that cannot be made or read.
    Never touches torch's global random generator: generated sets and splits draw from
    `numpy.random.default_rng(cfg.seed)`. `cancel` is looked at between the steps (each under about
    a second for 10 million samples here) and raises Cancelled once it is set.
    """
    cfg.validate()
    if cfg.name == "appendix-a":
        split = appendix_a()
        return _standardized(split) if cfg.standardize else split
    rng = np.random.default_rng(cfg.seed)
    if cfg.name in _GENERATORS:
        _check(cancel)
        X, y, class_names = _GENERATORS[cfg.name](cfg, rng)
        _check(cancel)
        # Every generator's last draw is this jitter, so it is done here, after a look at `cancel`.
        X = _jitter(X, cfg.noise, rng)
        feature_names: tuple[str, ...] = ("x1", "x2")
    elif cfg.name == "iris":
        X, y, feature_names, class_names = _load_iris()
    elif cfg.name == "digits":
        X, y, feature_names, class_names = _load_digits()
    elif cfg.name == "csv":
        X, y, feature_names, class_names = read_csv(cfg.path, cfg.label_column)
    else:  # validate() rejects unknown names; this guards a new name added without a loader
        raise DataError(f"no loader for data set {cfg.name!r}")
    _check(cancel)
    train_idx, test_idx = split_indices(y, cfg.test_fraction, rng)
    _check(cancel)
    X_train = _features(X[train_idx])
    _check(cancel)
    X_test = _features(X[test_idx])
    del X
    split = DataSplit(
        name=cfg.name,
        X_train=X_train,
        y_train=torch.from_numpy(np.ascontiguousarray(y[train_idx], dtype=np.int64)),
        X_test=X_test,
        y_test=torch.from_numpy(np.ascontiguousarray(y[test_idx], dtype=np.int64)),
        feature_names=tuple(feature_names),
        class_names=tuple(class_names),
        standardizer=None,
    )
    _check(cancel)
    return _standardized(split) if cfg.standardize else split


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled("stopped while the data was being made")


def _features(X: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))


def _standardized(split: DataSplit) -> DataSplit:
    s = Standardizer.fit(split.X_train)
    return DataSplit(
        split.name,
        s.apply(split.X_train),
        split.y_train,
        s.apply(split.X_test),
        split.y_test,
        split.feature_names,
        split.class_names,
        s,
    )


def split_indices(y: np.ndarray, test_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Seeded, stratified train/test indices, each in random order.

    The test split gets round(n * test_fraction) rows, shared among classes in proportion to
    their size, but never a class's last row: every class keeps at least one training row.
    """
    y = np.asarray(y)
    n = y.shape[0]
    codes, counts = _codes_and_counts(y)
    n_test = max(0, min(math.floor(n * test_fraction + 0.5), n - counts.shape[0]))
    # Integer arithmetic, so 0.2 of 150 is exactly 30 and the quotas never drift with rounding.
    quota = np.minimum(counts * n_test // n, counts - 1)
    remainder = counts * n_test % n
    remaining = n_test - int(quota.sum())
    # Largest remainder first; stable so ties go to the lower class, the same way every time.
    by_remainder = np.argsort(-remainder, kind="stable").tolist()
    while remaining > 0:
        for c in by_remainder:
            if remaining > 0 and quota[c] < counts[c] - 1:
                quota[c] += 1
                remaining -= 1
    perm = rng.permutation(n)
    codes_p = codes[perm]
    # Rank of each permuted row among the rows of its class: the first quota[c] of class c go to test.
    order = np.argsort(codes_p, kind="stable")
    starts = np.concatenate(([0], np.cumsum(counts)[:-1]))
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n) - starts[codes_p[order]]
    is_test = rank < quota[codes_p]
    return perm[~is_test], perm[is_test]


def _codes_and_counts(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(y, return_inverse=True, return_counts=True)[1:], without its sort for labels 0..k.

    Labels are small non-negative integers here; unique's sort of 10 million of them took 0.7 s with
    the interpreter lock held (a GUI beside it froze for 170 ms), a bincount takes 25 ms."""
    if y.dtype.kind in "iu" and y.size and int(y.min()) >= 0 and int(y.max()) < 1_000_000:
        full = np.bincount(y)
        present = full > 0
        return (np.cumsum(present) - 1)[y], full[present]
    _, codes, counts = np.unique(y, return_inverse=True, return_counts=True)
    return codes.reshape(-1), counts


# --- generated 2-D sets -------------------------------------------------------------------------


def _class_sizes(n: int, k: int) -> list[int]:
    return [n // k + (1 if i < n % k else 0) for i in range(k)]


def _labels(sizes: list[int]) -> np.ndarray:
    # Slice fills, not np.repeat: repeat holds the interpreter lock all through (10 million labels).
    y = np.empty(sum(sizes), dtype=np.int64)
    start = 0
    for k, size in enumerate(sizes):
        y[start : start + size] = k
        start += size
    return y


def _names(k: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(k))


def _jitter(X: np.ndarray, noise: float, rng: np.random.Generator) -> np.ndarray:
    return X + rng.normal(0.0, noise, size=X.shape) if noise > 0 else X


def _moons(cfg: DatasetConfig, rng: np.random.Generator):
    """Two interleaving half circles (the shape of scikit-learn's make_moons)."""
    sizes = _class_sizes(cfg.samples, 2)
    t0 = np.linspace(0.0, math.pi, sizes[0])
    t1 = np.linspace(0.0, math.pi, sizes[1])
    upper = np.stack([np.cos(t0), np.sin(t0)], axis=1)
    lower = np.stack([1.0 - np.cos(t1), 0.5 - np.sin(t1)], axis=1)
    return np.concatenate([upper, lower]), _labels(sizes), _names(2)


def _circles(cfg: DatasetConfig, rng: np.random.Generator):
    """A circle of radius 1 (class 0) around one of radius 0.5 (class 1)."""
    sizes = _class_sizes(cfg.samples, 2)
    parts = []
    for radius, size in zip((1.0, 0.5), sizes, strict=True):
        t = np.linspace(0.0, 2 * math.pi, size, endpoint=False)
        parts.append(radius * np.stack([np.cos(t), np.sin(t)], axis=1))
    return np.concatenate(parts), _labels(sizes), _names(2)


def _blobs(cfg: DatasetConfig, rng: np.random.Generator):
    """`classes` Gaussian clouds whose centres sit evenly on a circle, at least 1 apart."""
    k = cfg.classes
    sizes = _class_sizes(cfg.samples, k)
    radius = max(1.0, 0.5 / math.sin(math.pi / k))
    angles = rng.uniform(0.0, 2 * math.pi) + 2 * math.pi * np.arange(k) / k
    centers = radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)
    y = _labels(sizes)
    X = centers[y] + rng.normal(0.0, _BLOB_STD, size=(cfg.samples, 2))
    return X, y, _names(k)


def _xor(cfg: DatasetConfig, rng: np.random.Generator):
    """Points in the square [-1, 1]^2; class 1 where x1 and x2 have different signs."""
    X = rng.uniform(-1.0, 1.0, size=(cfg.samples, 2))
    y = ((X[:, 0] > 0) != (X[:, 1] > 0)).astype(np.int64)
    # Labels come from the clean points, so noise blurs the border as it does in the other sets.
    return X, y, _names(2)


def _spiral(cfg: DatasetConfig, rng: np.random.Generator):
    """`classes` arms winding out from the centre, three quarters of a turn each."""
    k = cfg.classes
    sizes = _class_sizes(cfg.samples, k)
    parts = []
    for arm, size in enumerate(sizes):
        r = np.linspace(0.05, 1.0, size)
        theta = 2 * math.pi * arm / k + 1.5 * math.pi * r
        parts.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
    return np.concatenate(parts), _labels(sizes), _names(k)


def _with_enough_samples(gen):
    def checked(cfg: DatasetConfig, rng: np.random.Generator):
        k = cfg.classes if cfg.name in ("blobs", "spiral") else 2
        if cfg.samples < k:
            raise DataError(f"{cfg.name} with {k} classes needs at least {k} samples, got {cfg.samples}")
        return gen(cfg, rng)

    return checked


_GENERATORS = {
    name: _with_enough_samples(gen)
    for name, gen in {"moons": _moons, "circles": _circles, "blobs": _blobs, "xor": _xor, "spiral": _spiral}.items()
}


# --- the bundled iris and digits files ----------------------------------------------------------------

# Copies of the files scikit-learn ships (resources/data/README.md: sources, citations, licence): 61 KB
# instead of installing scikit-learn and SciPy (210 MB) for two tables.
DATA_FOLDER = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "resources", "data")


def _data_file(filename: str) -> str:
    path = os.path.join(DATA_FOLDER, filename)
    if not os.path.isfile(path):
        raise DataError(f"the data file {path} that comes with the app is missing; reinstall Torch Playground")
    return path


def _load_iris():
    path = _data_file("iris.csv")
    try:
        with open(path, encoding="utf-8") as f:
            # First line: "150,4,setosa,versicolor,virginica" (rows, features, class names).
            head = next(csv.reader([f.readline()]))
            n_rows, n_features, class_names = int(head[0]), int(head[1]), tuple(head[2:])
            data = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)
    except (OSError, ValueError, IndexError, StopIteration) as exc:
        raise DataError(f"cannot read the iris file {path}: {exc}") from None
    if data.shape != (n_rows, n_features + 1) or n_features != len(_IRIS_FEATURES):
        raise DataError(f"the iris file {path} has an unexpected layout: {data.shape}")
    return data[:, :-1], data[:, -1].astype(np.int64), _IRIS_FEATURES, class_names


def _load_digits():
    path = _data_file("digits.csv.gz")
    try:
        with gzip.open(path, "rt", encoding="ascii") as f:
            data = np.loadtxt(f, delimiter=",", dtype=np.float64, ndmin=2)  # no header; 64 pixels, then the digit
    except (OSError, ValueError, EOFError) as exc:
        raise DataError(f"cannot read the digits file {path}: {exc}") from None
    if data.shape[1] != 65:
        raise DataError(f"the digits file {path} has {data.shape[1]} columns, expected 65")
    feature_names = tuple(f"pixel_{r}_{c}" for r in range(8) for c in range(8))
    return data[:, :-1], data[:, -1].astype(np.int64), feature_names, _names(10)


# --- one sample typed by hand ----------------------------------------------------------------------


def parse_features(text: str, n_features: int) -> list[float]:
    """One sample typed as text, `"-1.2, 3.1"` (`;` also separates), to its feature values.

    Raises DataError naming the value that is not a finite number, or the count that is wrong.
    """
    parts = [p.strip() for p in text.replace(";", ",").split(",") if p.strip()]
    values = []
    for p in parts:
        try:
            v = float(p)
        except ValueError:
            raise DataError(f"{p!r} is not a number") from None
        if not math.isfinite(v):
            raise DataError(f"{p!r} is not a finite number")
        values.append(v)
    if len(values) != n_features:
        raise DataError(f"the model takes {n_features} feature(s) as input but {len(values)} value(s) were given")
    return values
