"""Inside the layers while a model trains: weight and gradient norms, dead ReLU units, each hidden unit's picture over the plane, and a plain diagnosis of a collapsed run. No Qt.

Everything here reads the model and never changes what training does: no random draws, no
`p.grad` or optimizer state touched (gradients come from `torch.autograd.grad`, which returns them
instead of accumulating them), no train()/eval() switch. torch is imported where it is used, so
the panels can import this module before torch has loaded.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from core.events import register_event

if TYPE_CHECKING:
    import torch
    from torch import nn

    from core.data import DataSplit

# The stats look at the whole training split up to this many rows, else at an even sample of it
# (every k-th row: no random draw). A unit is dead when no looked-at row makes it positive.
STATS_ROWS = 4096
STATS_MIN_ROWS = 64
# One look costs rows x parameters multiply-adds three times (forward, two for backward): a wide
# model looks at fewer rows (never under STATS_MIN_ROWS). Measured here, one thread: the book's
# model on 320 rows 0.5 ms, 512-512 on 752 rows 18 ms.
STATS_BUDGET = 200_000_000
# The hidden outputs a look or a picture holds at once (rows x units, float32): 64 MB at most.
ACTIVATION_BUDGET = 16_000_000
# The unit pictures: a grid x grid forward pass over the same plane as the decision regions, coarser
# for a wide model (the regions' rule, see app.state.model_outputs.region_grid), at most MAX_UNITS a layer.
UNIT_GRID = 40
UNIT_MIN_GRID = 16
UNIT_BUDGET = 100_000_000
MAX_UNITS = 64
# How often, at most: stats four times a second, pictures once a second (as the decision regions)...
STATS_INTERVAL_S = 0.25
UNITS_INTERVAL_S = 1.0
# ...and never more than this share of the training thread's time: a look that took 2 ms waits 0.2 s (the
# app's throughput goal is 0.95x of headless, and the GUI's turns and the decision regions share it).
COST_SHARE = 0.01
# A cause of collapse other than a dead layer counts once it has held this many epochs (and two
# looks): a healthy run can predict one class for its first epoch or two, a collapsed one stays so.
PERSIST_EPOCHS = 10
# Gradients have vanished when a layer's is under this share of the output layer's...
VANISHED_RATIO = 1e-6
# ...and a run predicts one class when its loss is no better than this share of guessing's.
GUESSING_SHARE = 0.95

CAUSE_DEAD, CAUSE_ONE_CLASS, CAUSE_VANISHED = "dead_layer", "one_class", "vanished_gradients"


@dataclass(frozen=True)
class LayerStats:
    """One look inside the layers, at the end of an epoch (epoch 0: before training).

    `linear_names` has one entry per Linear layer, inputs to outputs; the last is the output layer.
    Hidden layers are the Linear layers but the last, each with its activation after it.
    """

    epoch: int
    step: int
    linear_names: tuple[str, ...]  # ("hidden 1", "hidden 2", "output")
    weight_norm: tuple[float, ...]  # per Linear layer: L2 norm of its weight and bias together
    grad_norm: tuple[float, ...]  # per Linear layer: L2 norm of d(mean loss)/d(weight, bias) on the rows
    hidden_sizes: tuple[int, ...]
    dead_units: tuple[int, ...] | None  # per hidden layer: units positive on no row; None unless ReLU
    loss: float  # mean cross-entropy on the rows
    accuracy: float  # share of the rows predicted right
    predicted_counts: tuple[int, ...]  # per class: rows predicted as it
    label_counts: tuple[int, ...]  # per class: rows that are it
    rows: int  # training rows looked at (all of them up to STATS_ROWS)
    train_samples: int  # rows in the training split

    @property
    def dead_share(self) -> tuple[float, ...] | None:
        """Per hidden layer, the share of its units that are dead (None unless the activation is ReLU)."""
        if self.dead_units is None:
            return None
        return tuple(d / s for d, s in zip(self.dead_units, self.hidden_sizes, strict=True))


@dataclass(frozen=True, eq=False)
class UnitSnapshot:
    """Each hidden unit's output over a grid of the 2-D (model-space) plane of the decision regions."""

    epoch: int
    step: int
    x_range: tuple[float, float]
    y_range: tuple[float, float]
    images: tuple[np.ndarray, ...]  # per hidden layer: float32 (shown units, grid, grid), [unit, y, x]
    hidden_sizes: tuple[int, ...]  # units per layer; a layer's image holds its first min(size, MAX_UNITS)
    activation: str  # "relu", "tanh", ... as in the config
    feature_names: tuple[str, str] = ("x1", "x2")  # the plane's axes


@dataclass(frozen=True)
class Diagnosis:
    """Whether the run looks collapsed. Sent when that changes, and always once at the run's end."""

    epoch: int
    step: int
    causes: tuple[str, ...]  # CAUSE_* found, empty when the run looks healthy
    message: str | None  # one paragraph for a person; None when there is nothing to warn about
    final: bool = False  # the run's last word (sent from on_train_end)


def _units_to_plain(snap: UnitSnapshot) -> dict:
    return {"epoch": snap.epoch, "step": snap.step, "x_range": list(snap.x_range), "y_range": list(snap.y_range),
            "images": [np.asarray(im, dtype=np.float32).tolist() for im in snap.images],
            "hidden_sizes": list(snap.hidden_sizes), "activation": snap.activation, "feature_names": list(snap.feature_names)}


def _units_from_plain(d: dict) -> UnitSnapshot:
    return UnitSnapshot(int(d["epoch"]), int(d["step"]), tuple(d["x_range"]), tuple(d["y_range"]),
                        tuple(np.asarray(im, dtype=np.float32) for im in d["images"]), tuple(d["hidden_sizes"]),
                        str(d["activation"]), tuple(d.get("feature_names", ("x1", "x2"))))


# Insight's events travel in the same JSON stream as the run's (core.events): a torchrun run can send them.
register_event(LayerStats)
register_event(Diagnosis)
register_event(UnitSnapshot, _units_to_plain, _units_from_plain)


# --- looking inside -----------------------------------------------------------------------------


def _layers(model: nn.Module) -> tuple[list[nn.Module], list[nn.Linear], list[nn.Module]]:
    """The modules in order, the Linear layers, and the activation after each hidden one."""
    from torch import nn

    seq = model.layers if hasattr(model, "layers") else model
    modules = list(seq)
    linears = [m for m in modules if isinstance(m, nn.Linear)]
    acts = [modules[i + 1] for i, m in enumerate(modules[:-1]) if isinstance(m, nn.Linear)]
    return modules, linears, acts


def linear_names(hidden_layers: int) -> tuple[str, ...]:
    return (*(f"hidden {k + 1}" for k in range(hidden_layers)), "output")


def even_rows(n: int, limit: int) -> np.ndarray | None:
    """Indices of an even sample of `limit` of n rows (first and last included); None to take them all."""
    if n <= limit:
        return None
    return np.linspace(0, n - 1, limit).astype(np.int64)


def stats_rows(n: int, parameters: int, units: int = 0) -> int:
    """How many training rows a look takes, for a split of n rows and a model of this many parameters
    and hidden units (all layers together)."""
    by_work = max(STATS_MIN_ROWS, STATS_BUDGET // max(parameters, 1))
    return int(max(1, min(n, STATS_ROWS, by_work, ACTIVATION_BUDGET // max(units, 1))))


def layer_stats(model: nn.Module, X: torch.Tensor, y: torch.Tensor, *, epoch: int = 0, step: int = 0,
                num_classes: int | None = None, train_samples: int | None = None) -> LayerStats:
    """Norms, gradients, dead units and predictions of `model` on rows X (model space) with labels y.

    The gradient is that of the mean cross-entropy over these rows (the full-batch gradient when
    they are the whole split), from `torch.autograd.grad`: the parameters' `.grad` stay untouched.
    """
    import torch
    import torch.nn.functional as F
    from torch import nn

    modules, linears, acts = _layers(model)
    relu = bool(acts) and all(isinstance(a, nn.ReLU) for a in acts)
    after = {id(a) for a in acts}
    params = [p for lin in linears for p in (lin.weight, lin.bias)]
    outputs: list[torch.Tensor] = []
    with torch.enable_grad():
        h = X
        for module in modules:
            h = module(h)
            if id(module) in after:
                outputs.append(h)
        loss = F.cross_entropy(h, y)
        grads = torch.autograd.grad(loss, params)
    with torch.no_grad():
        logits = h.detach()
        k = num_classes if num_classes is not None else int(logits.shape[1])
        pred = logits.argmax(dim=1)
        norms = torch.stack([
            torch.linalg.vector_norm(torch.cat([w.detach().reshape(-1), b.detach()]))
            for group in (params, grads) for w, b in zip(group[0::2], group[1::2], strict=True)
        ]).tolist()
        dead = [int((~(out > 0).any(dim=0)).sum()) for out in outputs] if relu else None
        counts = torch.bincount(pred, minlength=k).tolist()
        labels = torch.bincount(y, minlength=k).tolist()
        correct = int((pred == y).sum())
    n = int(X.shape[0])
    layers = len(linears)
    return LayerStats(
        epoch=epoch, step=step, linear_names=linear_names(layers - 1),
        weight_norm=tuple(norms[:layers]), grad_norm=tuple(norms[layers:]),
        hidden_sizes=tuple(int(lin.out_features) for lin in linears[:-1]),
        dead_units=tuple(dead) if dead is not None else None,
        loss=float(loss.detach()), accuracy=correct / n if n else float("nan"),
        predicted_counts=tuple(counts), label_counts=tuple(labels), rows=n,
        train_samples=train_samples if train_samples is not None else n,
    )


def data_bounds(data: DataSplit) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """Each feature's (min, max) over both splits, for 2-D data (what app.state.model_outputs.data_bounds gives)."""
    import torch

    if data.num_features != 2 or data.X_train.shape[0] == 0:
        return None
    lo, hi = data.X_train.amin(dim=0), data.X_train.amax(dim=0)
    if data.X_test.shape[0]:
        lo, hi = torch.minimum(lo, data.X_test.amin(dim=0)), torch.maximum(hi, data.X_test.amax(dim=0))
    (x0, y0), (x1, y1) = lo.tolist(), hi.tolist()
    return (x0, x1), (y0, y1)


def plane(bounds, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid's x and y values: the data's bounds padded by 10% (at least 0.5), as the decision regions."""
    (x0, x1), (y0, y1) = bounds
    pad_x, pad_y = max((x1 - x0) * 0.1, 0.5), max((y1 - y0) * 0.1, 0.5)
    xs = np.linspace(x0 - pad_x, x1 + pad_x, grid, dtype=np.float32)
    ys = np.linspace(y0 - pad_y, y1 + pad_y, grid, dtype=np.float32)
    return xs, ys


def unit_grid(parameters: int, widest: int = 0) -> int:
    """The pictures' side for a model of this many parameters and its widest hidden layer (see UNIT_BUDGET)."""
    by_work = max(UNIT_MIN_GRID, math.isqrt(UNIT_BUDGET // max(parameters, 1)))
    return int(max(2, min(UNIT_GRID, by_work, math.isqrt(ACTIVATION_BUDGET // max(widest, 1)))))


def unit_activations(model: nn.Module, bounds, grid: int = UNIT_GRID, *, epoch: int = 0, step: int = 0,
                     max_units: int = MAX_UNITS, activation: str = "", device=None,
                     feature_names: tuple[str, str] = ("x1", "x2")) -> UnitSnapshot:
    """Every hidden unit's output (after its activation) at each point of a grid over the 2-D plane."""
    import torch

    modules, _, acts = _layers(model)
    after = {id(a) for a in acts}
    xs, ys = plane(bounds, grid)
    gx, gy = np.meshgrid(xs, ys)
    h = torch.from_numpy(np.stack([gx.ravel(), gy.ravel()], axis=1))
    if device is not None:
        h = h.to(device)
    images: list[np.ndarray] = []
    sizes: list[int] = []
    with torch.no_grad():
        for module in modules:
            h = module(h)
            if id(module) in after:
                sizes.append(int(h.shape[1]))
                shown = h[:, :max_units].T.float().cpu().numpy()
                images.append(np.ascontiguousarray(shown.reshape(-1, grid, grid)))
    return UnitSnapshot(
        epoch=epoch, step=step, x_range=(float(xs[0]), float(xs[-1])), y_range=(float(ys[0]), float(ys[-1])),
        images=tuple(images), hidden_sizes=tuple(sizes), activation=activation, feature_names=tuple(feature_names),
    )


# --- is it collapsed? ---------------------------------------------------------------------------


def guessing_loss(label_counts: tuple[int, ...]) -> float:
    """The loss of a model that ignores its input and predicts the class shares: their entropy."""
    n = sum(label_counts)
    return -sum(c / n * math.log(c / n) for c in label_counts if c) if n else 0.0


def find_causes(stats: LayerStats) -> tuple[str, ...]:
    """The causes of a collapse this one look shows (CAUSE_*); () for a healthy look or non-finite numbers
    (a diverged run, which the trainer reports itself)."""
    numbers = (*stats.weight_norm, *stats.grad_norm, stats.loss)
    if not all(math.isfinite(v) for v in numbers) or stats.rows == 0:
        return ()
    causes = []
    if stats.dead_units is not None and any(d == s for d, s in zip(stats.dead_units, stats.hidden_sizes, strict=True)):
        causes.append(CAUSE_DEAD)
    guessing = guessing_loss(stats.label_counts)
    classes_present = sum(1 for c in stats.label_counts if c)
    if classes_present > 1 and max(stats.predicted_counts) == stats.rows and stats.loss >= GUESSING_SHARE * guessing:
        causes.append(CAUSE_ONE_CLASS)
    if _vanished_layers(stats) and stats.loss >= 0.1 * guessing:
        causes.append(CAUSE_VANISHED)
    return tuple(causes)


def _vanished_layers(stats: LayerStats) -> list[int]:
    """Linear layers (not the output) whose gradient is under VANISHED_RATIO of the output layer's."""
    out = stats.grad_norm[-1]
    if out <= 0:
        return []
    return [i for i, g in enumerate(stats.grad_norm[:-1]) if g < VANISHED_RATIO * out]


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


def collapse_message(stats: LayerStats, causes: tuple[str, ...], learning_rate: float | None = None,
                     activation: str | None = None, class_names: tuple[str, ...] | None = None) -> str | None:
    """A paragraph that names what was found and what to try; None when `causes` is empty."""
    if not causes:
        return None
    parts = []
    if CAUSE_ONE_CLASS in causes:
        k = int(np.argmax(stats.predicted_counts))
        name = class_names[k] if class_names is not None and k < len(class_names) else str(k)
        parts.append(f"every prediction is class {name} ({stats.accuracy:.0%} of the training samples right)")
    if CAUSE_DEAD in causes and stats.dead_units is not None:
        for i, (d, s) in enumerate(zip(stats.dead_units, stats.hidden_sizes, strict=True)):
            if d == s:
                units = "the only unit" if s == 1 else f"all {s} units"
                parts.append(f"{units} of hidden layer {i + 1} {'is' if s == 1 else 'are'} dead "
                             "(no positive output on any training sample)")
    if CAUSE_VANISHED in causes:
        layers = [str(i + 1) for i in _vanished_layers(stats)]
        where = f"hidden layer {layers[0]}" if len(layers) == 1 else f"hidden layers {_join(layers)}"
        parts.append(f"the gradient reaching {where} has vanished (under a millionth of the output layer's), "
                     "so their weights no longer learn")
    tries = [f"a lower learning rate (e.g. {learning_rate / 10:g} instead of {learning_rate:g})"
             if learning_rate is not None else "a lower learning rate"]
    if activation == "relu":
        tries.append("another activation (leaky_relu or tanh)")
    elif activation in ("sigmoid", "tanh") and CAUSE_VANISHED in causes:
        tries.append("another activation (relu or leaky_relu)")
    elif activation is not None and activation != "identity":
        tries.append("another activation")
    return f"The run has collapsed: {'; '.join(parts)}. Try {' or '.join(tries)}."


def diagnose(stats: LayerStats, learning_rate: float | None = None, activation: str | None = None,
             class_names: tuple[str, ...] | None = None) -> str | None:
    """One look's verdict: a warning naming the causes found, or None. (The recorder also asks that a
    cause other than a dead layer has held PERSIST_EPOCHS epochs, see CollapseWatch.)"""
    return collapse_message(stats, find_causes(stats), learning_rate, activation, class_names)


class CollapseWatch:
    """Follows the looks of one run: a dead layer counts at once (its units get no gradient, so it stays
    dead); one class and vanished gradients count once they have held PERSIST_EPOCHS epochs."""

    def __init__(self, persist_epochs: int = PERSIST_EPOCHS):
        self.persist_epochs = persist_epochs
        self._since: dict[str, int] = {}

    def update(self, stats: LayerStats) -> tuple[str, ...]:
        found = find_causes(stats)
        self._since = {c: self._since.get(c, stats.epoch) for c in found}
        return tuple(c for c in found if c == CAUSE_DEAD or stats.epoch - self._since[c] >= self.persist_epochs)


# --- during training ----------------------------------------------------------------------------
