"""The Layers panel: per layer and epoch, the weights' and gradients' norms and the share of dead ReLU units, and a warning when the run has collapsed."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QGraphicsItem, QLabel, QVBoxLayout, QWidget

from app.plots.colors import CLASS_COLORS
from core.insight import LayerStats

OUTPUT_COLOR = (90, 90, 90)
# The gradient plot is logarithmic: a gradient of exactly 0 (a dead layer's) is drawn at this floor.
GRAD_FLOOR = 1e-12
WARNING_STYLE = "QLabel { background: #fff4ce; border: 1px solid #d9a400; padding: 6px; color: #3a2e00; }"
NOT_RELU_TEXT = "Dead units are counted for ReLU networks: a ReLU unit is dead when no training sample makes it positive."
INTRO_TEXT = (
    "Each curve is one layer, measured on the training split a few times a second. A weight norm that "
    "shoots up, a gradient that drops to the bottom or dead units near 100% mean the layer stopped learning."
)


def layer_color(i: int, count: int) -> tuple[int, int, int]:
    """Hidden layers take the class colours in order; the output layer (the last of `count`) is grey."""
    return OUTPUT_COLOR if i == count - 1 else CLASS_COLORS[i % len(CLASS_COLORS)]


def _small_plot(name: str, title: str, left: str, tip: str) -> pg.PlotWidget:
    plot = pg.PlotWidget(background="w")
    plot.setObjectName(name)
    plot.setAccessibleName(title)
    plot.setToolTip(tip)
    plot.setMinimumHeight(110)
    item = plot.getPlotItem()
    item.setTitle(title, size="9pt")
    item.setLabel("left", left)
    item.setLabel("bottom", "epoch")
    item.layout.setContentsMargins(2, 2, 10, 2)
    item.showGrid(x=True, y=True, alpha=0.15)
    for axis in ("left", "bottom"):
        item.getAxis(axis).enableAutoSIPrefix(False)
        # Axes kept as pixmaps, drawn again only when their range changes (see app.plots.common.tidy).
        item.getAxis(axis).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
    item.setMenuEnabled(False)
    # Overviews, not places to explore: the panel sets their ranges (see LayersPanel._fit_ranges).
    item.getViewBox().setMouseEnabled(x=False, y=False)
    item.disableAutoRange()
    item.hideButtons()
    return plot


def nice_ceiling(value: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 4, 5, 6, 8 x 10^k that is >= value (1 for anything <= 1)."""
    if not math.isfinite(value) or value <= 1:
        return 1.0
    decade = 10.0 ** math.floor(math.log10(value))
    for m in (1, 1.5, 2, 3, 4, 5, 6, 8, 10):
        if m * decade >= value * (1 - 1e-12):
            return m * decade
    return 10 * decade


class _Series:
    """Rows of one number per layer, in a numpy buffer that grows by doubling."""

    def __init__(self, width: int):
        self.data = np.empty((64, width), dtype=np.float64)
        self.n = 0

    def extend(self, rows: np.ndarray) -> None:
        need = self.n + len(rows)
        if need > len(self.data):
            grown = np.empty((max(need, 2 * len(self.data)), self.data.shape[1]), dtype=np.float64)
            grown[: self.n] = self.data[: self.n]
            self.data = grown
        self.data[self.n : need] = rows
        self.n = need

    def view(self) -> np.ndarray:
        return self.data[: self.n]


class LayersPanel(QWidget):
    """Small curves over epochs: each Linear layer's weight norm and gradient norm (log scale), each hidden
    layer's share of dead ReLU units; above them, the collapse warning when there is one.

    The window feeds it `add_stats(list of LayerStats)` as they arrive (appends and setData only),
    `set_warning(text or None)` on each core.insight.Diagnosis, `set_epoch_span(first, last)` at a run's
    start (so the epoch axis stays put while it runs), and `clear()` for a new model. Stats for another
    shape of model start the curves afresh by themselves.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("layersPanel")
        self.setAccessibleName("Inside the layers")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        self.warning_label = QLabel()
        self.warning_label.setObjectName("collapseWarningLabel")
        self.warning_label.setAccessibleName("Collapse warning")
        self.warning_label.setWordWrap(True)
        self.warning_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.warning_label.setStyleSheet(WARNING_STYLE)
        self.warning_label.setVisible(False)
        layout.addWidget(self.warning_label)
        self.intro_label = QLabel(INTRO_TEXT)
        self.intro_label.setObjectName("layersIntroLabel")
        self.intro_label.setWordWrap(True)
        self.intro_label.setStyleSheet("QLabel { color: #505050; }")
        layout.addWidget(self.intro_label)
        self.weight_plot = _small_plot(
            "weightNormPlot", "Weight norm", "norm",
            "The size of each layer's weights and bias (their L2 norm) at the end of each epoch. It grows as the "
            "layer learns; one that shoots up often comes before a collapse (a learning rate too high).")
        self.grad_plot = _small_plot(
            "gradNormPlot", "Gradient norm (log scale)", "norm",
            "The size of each layer's gradient: of the mean loss over the training split (an even sample of it "
            "when it is large), as backward() would compute it. A layer whose gradient falls to the bottom gets no gradient at all: it no longer learns "
            "(vanished gradients). Exact zeros are drawn at 1e-12.")
        self.grad_plot.getPlotItem().setLogMode(y=True)
        self.dead_plot = _small_plot(
            "deadUnitsPlot", "Dead ReLU units", "% dead",
            "The share of each hidden layer's units that no training sample makes positive. A dead ReLU unit "
            "outputs 0 and passes no gradient back, so it stays dead; at 100% the layer passes nothing on.")
        self.dead_plot.getPlotItem().setYRange(0, 100, padding=0.02)
        self.not_relu_label = QLabel(NOT_RELU_TEXT)
        self.not_relu_label.setObjectName("deadUnitsNote")
        self.not_relu_label.setWordWrap(True)
        self.not_relu_label.setStyleSheet("QLabel { color: #505050; }")
        self.not_relu_label.setVisible(False)
        self.legend_label = QLabel()
        self.legend_label.setObjectName("layersLegendLabel")
        self.legend_label.setWordWrap(True)
        self.legend_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.legend_label)
        for widget in (self.weight_plot, self.grad_plot, self.dead_plot):
            layout.addWidget(widget, 1)
        layout.addWidget(self.not_relu_label)
        self._curves: list[list[pg.PlotDataItem]] = [[], [], []]
        self._reset(None)

    # --- public ------------------------------------------------------------------------------------

    def clear(self) -> None:
        """Forget every curve, the epoch span and the warning (a new model)."""
        self.set_warning(None)
        self._span = None
        self._reset(None)

    def set_warning(self, text: str | None) -> None:
        """Show `text` above the curves (a collapsed run), or hide the warning (None)."""
        self.warning_label.setText(text or "")
        self.warning_label.setVisible(bool(text))

    def set_epoch_span(self, first: int, last: int) -> None:
        """Fix the epoch axis to cover `first` to `last` (a run's TrainStart: first_epoch - 1 to first_epoch - 1
        + epochs), so it does not change while the run goes on; later looks past `last` still widen it."""
        self._span = (first, last)
        self._fit_ranges(self._epochs.view()[:, 0])

    def warning(self) -> str | None:
        return self.warning_label.text() if self.warning_label.isVisibleTo(self) else None

    def add_stats(self, stats: Iterable[LayerStats]) -> None:
        """Append looks (oldest first) to the curves."""
        stats = list(stats)
        start = 0
        for end in range(1, len(stats) + 1):
            if end < len(stats) and _shape(stats[end]) == _shape(stats[start]):
                continue
            if _shape(stats[start]) != self._shape:  # another model: its curves start afresh
                self._reset(_shape(stats[start]))
            self._append(stats[start:end])
            start = end
        if stats:
            self._redraw()

    def epochs(self) -> np.ndarray:
        """The epochs of the looks shown (a copy)."""
        return self._epochs.view()[:, 0].copy()

    def series(self) -> dict[str, np.ndarray]:
        """What is drawn, as (looks, layers) arrays: "weight_norm", "grad_norm" (zeros at GRAD_FLOOR) and
        "dead_percent" (0 to 100)."""
        return {"weight_norm": self._weights.view().copy(), "grad_norm": self._grads.view().copy(),
                "dead_percent": self._dead.view().copy()}

    # --- private -----------------------------------------------------------------------------------

    def _reset(self, shape: tuple | None) -> None:
        for plot, curves in zip((self.weight_plot, self.grad_plot, self.dead_plot), self._curves, strict=True):
            for curve in curves:
                plot.getPlotItem().removeItem(curve)
            curves.clear()
        self._shape = shape
        self._ranges: dict[tuple[str, str], tuple[float, float]] = {}
        self._span: tuple[int, int] | None = getattr(self, "_span", None)
        names = shape[0] if shape is not None else ()
        hidden = len(shape[1]) if shape is not None else 0
        relu = shape is not None and shape[2]
        self._epochs = _Series(1)
        self._weights, self._grads = _Series(len(names)), _Series(len(names))
        self._dead = _Series(hidden if relu else 0)
        for i in range(len(names)):
            color = layer_color(i, len(names))
            pen = pg.mkPen(color, width=2, style=Qt.PenStyle.DashLine if i == len(names) - 1 else Qt.PenStyle.SolidLine)
            for k, plot in enumerate((self.weight_plot, self.grad_plot)):
                curve = plot.getPlotItem().plot(pen=pen, connect="finite")
                self._curves[k].append(curve)
            if relu and i < hidden:
                self._curves[2].append(self.dead_plot.getPlotItem().plot(pen=pen, connect="finite"))
        self.legend_label.setText("&nbsp;&nbsp;&nbsp;".join(
            f'<span style="color: rgb{layer_color(i, len(names))}; font-weight: bold;">'
            f'{"╍╍" if i == len(names) - 1 else "━━"}</span>&nbsp;{name}' for i, name in enumerate(names)))
        # A network with no hidden layer has no units to be dead; a non-ReLU one is not measured.
        self.dead_plot.setVisible(shape is None or (relu and hidden > 0))
        self.not_relu_label.setVisible(shape is not None and not (relu and hidden > 0))

    def _append(self, stats: list[LayerStats]) -> None:
        self._epochs.extend(np.array([[s.epoch] for s in stats], dtype=np.float64))
        self._weights.extend(np.array([s.weight_norm for s in stats], dtype=np.float64))
        self._grads.extend(np.maximum(np.array([s.grad_norm for s in stats], dtype=np.float64), GRAD_FLOOR))
        if self._dead.data.shape[1]:
            self._dead.extend(100.0 * np.array([s.dead_share for s in stats], dtype=np.float64))

    def _redraw(self) -> None:
        x = self._epochs.view()[:, 0]
        for curves, series in zip(self._curves, (self._weights, self._grads, self._dead), strict=True):
            values = series.view()
            for i, curve in enumerate(curves):
                curve.setData(x, values[:, i])
        self._fit_ranges(x)

    def _fit_ranges(self, x: np.ndarray) -> None:
        """Ranges that change in steps (epochs to 10, 20, 50, ...; norms to 1, 1.5, 2, 3, ...; whole decades
        of gradient): a plot whose range changes redraws its axes, which took ~20 ms of every update
        with pyqtgraph's auto-range, and ~2 ms without."""
        ranges = []
        span = self._span
        if len(x) or span is not None:
            starts = ([float(x[0])] if len(x) else []) + ([float(span[0])] if span is not None else [])
            x0 = min(starts)
            last = float(x[-1]) if len(x) else x0
            x1 = float(span[1]) if span is not None and last <= span[1] else x0 + nice_ceiling(last - x0)
            ranges.append((self.weight_plot, "x", (x0, max(x1, x0 + 1))))
        if len(x):
            weights = self._weights.view()
            finite = weights[np.isfinite(weights)]
            ranges.append((self.weight_plot, "y", (0.0, nice_ceiling(float(finite.max()) if finite.size else 1.0))))
            grads = np.log10(self._grads.view())
            finite = grads[np.isfinite(grads)]
            if finite.size:
                low, high = math.floor(finite.min()), math.ceil(finite.max())
                ranges.append((self.grad_plot, "y", (low, max(high, low + 1))))
        for plot, axis, span in ranges:
            if self._ranges.get((plot.objectName(), axis)) != span:
                self._ranges[(plot.objectName(), axis)] = span
                if axis == "x":  # one epoch axis for the three plots
                    for p in (self.weight_plot, self.grad_plot, self.dead_plot):
                        p.getPlotItem().setXRange(*span, padding=0.02)
                else:
                    plot.getPlotItem().setYRange(*span, padding=0.02)


def _shape(stats: LayerStats) -> tuple:
    """What fixes the curves: the layers, their sizes, whether dead units are counted."""
    return stats.linear_names, stats.hidden_sizes, stats.dead_units is not None
