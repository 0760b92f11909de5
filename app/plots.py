"""Live plots: per-batch and per-epoch loss, accuracy per epoch, and the 2-D data with decision regions."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF

from core.events import EpochEnd
from core.training import History

# White plots read better in a classroom projector and in screenshots than pyqtgraph's black.
pg.setConfigOptions(background="w", foreground="#202020", antialias=True)

# Colour-blind-friendly class colours (Okabe-Ito), repeated when there are more classes.
CLASS_COLORS = [
    (0, 114, 178),
    (230, 159, 0),
    (0, 158, 115),
    (204, 121, 167),
    (86, 180, 233),
    (213, 94, 0),
    (240, 228, 66),
    (0, 0, 0),
]
TRAIN_COLOR = (0, 114, 178)
TEST_COLOR = (213, 94, 0)
BATCH_COLOR = (150, 150, 150)
# Beyond this many epochs the per-epoch markers only hide the line.
MAX_EPOCH_SYMBOLS = 200


def _tidy(item: pg.PlotItem) -> None:
    """Room on the right so edge points are not clipped, and plain numbers on the axes (no "x0.001")."""
    item.layout.setContentsMargins(4, 4, 14, 4)
    for name in ("left", "bottom"):
        item.getAxis(name).enableAutoSIPrefix(False)


def class_color(k: int, alpha: int = 255) -> tuple[int, int, int, int]:
    return (*CLASS_COLORS[k % len(CLASS_COLORS)], alpha)


class GrowingBuffer:
    """A numpy array that grows by doubling, so appending n values costs O(n) overall."""

    def __init__(self, dtype=np.float64, capacity: int = 1024):
        self._data = np.empty(capacity, dtype=dtype)
        self._n = 0

    def __len__(self) -> int:
        return self._n

    def extend(self, values: Iterable[float] | np.ndarray) -> None:
        values = np.asarray(values, dtype=self._data.dtype).ravel()
        need = self._n + values.shape[0]
        if need > self._data.shape[0]:
            cap = self._data.shape[0]
            while cap < need:
                cap *= 2
            grown = np.empty(cap, dtype=self._data.dtype)
            grown[: self._n] = self._data[: self._n]
            self._data = grown
        self._data[self._n : need] = values
        self._n = need

    def reserve(self, capacity: int) -> None:
        """Make room for `capacity` values now, so appending up to there never stops to copy."""
        if capacity > self._data.shape[0]:
            grown = np.empty(capacity, dtype=self._data.dtype)
            grown[: self._n] = self._data[: self._n]
            self._data = grown

    def view(self) -> np.ndarray:
        """The filled part (a view: copy it before keeping it)."""
        return self._data[: self._n]

    def clear(self) -> None:
        self._n = 0


class LossPlot(pg.PlotWidget):
    """Loss per batch (a grey line) with each epoch's mean train loss and end-of-epoch test loss on top.

    Read back with `batch_losses()` / `batch_steps()` (every value, never downsampled) or
    `batch_curve.getData()` (what is drawn).
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("lossPlot")
        self.setAccessibleName("Loss plot")
        self.setToolTip(
            "Cross-entropy loss. Grey: the loss of every batch as it trained. Blue: each epoch's mean training loss. "
            "Orange: the test loss at the end of each epoch. Drag to pan, scroll to zoom, right-click for options "
            "(e.g. a log scale); the small 'A' button in the corner shows everything again."
        )
        item = self.getPlotItem()
        item.setTitle("Loss")
        _tidy(item)
        item.setLabel("left", "loss")
        item.setLabel("bottom", "batch (optimizer step)")
        # No grid: a grid is drawn by the axes, which would then repaint with every new batch.
        # Peak downsampling and clip-to-view together keep 1e6 points fast in every view mode.
        item.setDownsampling(mode="peak", auto=True)
        item.setClipToView(True)
        item.addLegend(offset=(-10, 10))
        # No antialiasing for the dense batch line: it looks the same and draws several times faster.
        self.batch_curve = item.plot(pen=pg.mkPen(BATCH_COLOR, width=1), name="batch loss", antialias=False)
        self.train_curve = item.plot(pen=pg.mkPen(TRAIN_COLOR, width=2), name="train loss (epoch mean)")
        self.test_curve = item.plot(pen=pg.mkPen(TEST_COLOR, width=2), name="test loss (epoch end)")
        self._steps = GrowingBuffer(np.float64)
        self._losses = GrowingBuffer(np.float64)
        self._epoch_steps = GrowingBuffer(np.float64)
        self._train = GrowingBuffer(np.float64)
        self._test = GrowingBuffer(np.float64)

    # --- reading back ---------------------------------------------------------------------------

    def batch_losses(self) -> np.ndarray:
        return self._losses.view().copy()

    def batch_steps(self) -> np.ndarray:
        return self._steps.view().copy()

    def epoch_losses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(step at each epoch's end, train loss, test loss (nan where none))."""
        return self._epoch_steps.view().copy(), self._train.view().copy(), self._test.view().copy()

    # --- feeding --------------------------------------------------------------------------------

    def clear_data(self) -> None:
        for buf in (self._steps, self._losses, self._epoch_steps, self._train, self._test):
            buf.clear()
        self._redraw_batches()
        self._redraw_epochs()
        self.getPlotItem().enableAutoRange(axis="x", enable=True)

    def begin_run(self, first_step: int, total_steps: int) -> None:
        """Fix the x axis to the whole run: the curve grows across it (showing progress), and the
        axes need not repaint with every new batch."""
        # Room for the whole run now: doubling a million-value buffer mid-run stalled one update ~40 ms.
        for buf in (self._steps, self._losses):
            buf.reserve(len(buf) + total_steps)
        start = min(first_step, int(self._steps.view()[0])) if len(self._steps) else first_step
        self.getPlotItem().setXRange(start, max(first_step + total_steps - 1, start + 1), padding=0.02)

    def end_run(self) -> None:
        self.getPlotItem().enableAutoRange(axis="x", enable=True)

    def append_batches(self, steps: np.ndarray, losses: np.ndarray) -> None:
        if len(losses) == 0:
            return
        self._steps.extend(steps)
        self._losses.extend(losses)
        self._redraw_batches()

    def append_epochs(self, epochs: Iterable[EpochEnd]) -> None:
        epochs = list(epochs)
        if not epochs:
            return
        self._epoch_steps.extend([e.step for e in epochs])
        self._train.extend([e.train_loss for e in epochs])
        self._test.extend([np.nan if e.test_loss is None else e.test_loss for e in epochs])
        self._redraw_epochs()

    def set_history(self, history: History) -> None:
        """Show a whole history at once (an opened model file, or a reset)."""
        self.clear_data()
        losses = history.losses()
        self.append_batches(np.arange(1, len(losses) + 1, dtype=np.float64), losses)
        self.append_epochs(history.epochs)

    def _redraw_batches(self) -> None:
        self.batch_curve.setData(self._steps.view(), self._losses.view())

    def _redraw_epochs(self) -> None:
        x = self._epoch_steps.view()
        symbols = len(x) <= MAX_EPOCH_SYMBOLS
        test = self._test.view()
        self.train_curve.setData(
            x, self._train.view(), symbol="o" if symbols else None, symbolSize=6,
            symbolBrush=TRAIN_COLOR, symbolPen=None,
        )
        has_test = bool(len(test)) and not np.all(np.isnan(test))
        self.test_curve.setData(
            x if has_test else [], test if has_test else [], symbol="s" if symbols else None, symbolSize=6,
            symbolBrush=TEST_COLOR, symbolPen=None, connect="finite",
        )


class AccuracyPlot(pg.PlotWidget):
    """Train and test accuracy at the end of each epoch (the book's compute_accuracy)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("accuracyPlot")
        self.setAccessibleName("Accuracy plot")
        self.setToolTip(
            "Share of correctly classified samples after each epoch, measured in eval mode without gradients "
            "(the book's compute_accuracy). Blue: training split; orange: test split, which the model never trains on."
        )
        item = self.getPlotItem()
        item.setTitle("Accuracy")
        _tidy(item)
        item.setLabel("left", "accuracy")
        item.setLabel("bottom", "epoch")
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setDownsampling(mode="peak", auto=True)
        item.setClipToView(True)
        item.setYRange(0.0, 1.0, padding=0.05)
        item.enableAutoRange(axis="y", enable=False)
        item.addLegend(offset=(-10, -10))
        self.train_curve = item.plot(pen=pg.mkPen(TRAIN_COLOR, width=2), name="train")
        self.test_curve = item.plot(pen=pg.mkPen(TEST_COLOR, width=2), name="test")
        self._epochs = GrowingBuffer(np.float64)
        self._train = GrowingBuffer(np.float64)
        self._test = GrowingBuffer(np.float64)

    def accuracies(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._epochs.view().copy(), self._train.view().copy(), self._test.view().copy()

    def clear_data(self) -> None:
        for buf in (self._epochs, self._train, self._test):
            buf.clear()
        self._redraw()

    def append_epochs(self, epochs: Iterable[EpochEnd]) -> None:
        epochs = list(epochs)
        if not epochs:
            return
        self._epochs.extend([e.epoch for e in epochs])
        self._train.extend([e.train_accuracy for e in epochs])
        self._test.extend([np.nan if e.test_accuracy is None else e.test_accuracy for e in epochs])
        self._redraw()

    def set_history(self, history: History) -> None:
        self.clear_data()
        self.append_epochs(history.epochs)

    def _redraw(self) -> None:
        x = self._epochs.view()
        # Whole epochs only: "1.5" on an epoch axis means nothing.
        axis = self.getPlotItem().getAxis("bottom")
        if len(x) and x[-1] - x[0] <= 12:
            axis.setTickSpacing(major=1, minor=1)
        else:
            axis.setTickSpacing()
        symbols = len(x) <= MAX_EPOCH_SYMBOLS
        test = self._test.view()
        self.train_curve.setData(x, self._train.view(), symbol="o" if symbols else None, symbolSize=6,
                                 symbolBrush=TRAIN_COLOR, symbolPen=None)
        has_test = bool(len(test)) and not np.all(np.isnan(test))
        self.test_curve.setData(x if has_test else [], test if has_test else [], symbol="s" if symbols else None,
                                symbolSize=6, symbolBrush=TEST_COLOR, symbolPen=None, connect="finite")


class DataPlot(pg.PlotWidget):
    """The training (dots) and test (triangles) points coloured by class, over the model's decision regions."""

    DEFAULT_TOOLTIP = (
        "The data in the model's input space (standardized when that option is on). Dots: training samples; "
        "triangles: test samples; the colour is the true class. The shaded background is the class the model "
        "predicts there (stronger = more confident)."
    )
    # More points than this are drawn as a sample: a scatter of 100k points is slow and unreadable.
    MAX_POINTS = 5000

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("dataPlot")
        self.setAccessibleName("Data plot")
        self.setToolTip(self.DEFAULT_TOOLTIP)
        item = self.getPlotItem()
        item.setTitle("Data and decision regions")
        _tidy(item)
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setAspectLocked(False)
        self.regions = pg.ImageItem(axisOrder="row-major")
        self.regions.setZValue(-10)
        item.addItem(self.regions)
        self.train_scatter = pg.ScatterPlotItem(size=8, pen=pg.mkPen("w", width=0.8), symbol="o", name="train")
        self.test_scatter = pg.ScatterPlotItem(size=13, pen=pg.mkPen("k", width=1.2), symbol="t", name="test")
        item.addItem(self.train_scatter)
        item.addItem(self.test_scatter)
        self.message = pg.TextItem("", color="#404040", anchor=(0.5, 0.5))
        item.addItem(self.message)
        self._class_count = 0
        self.is_2d = False
        self.shown_key = None  # what set_data was told it shows (a DatasetConfig), to skip redrawing it

    def clear_data(self) -> None:
        self.shown_key = None
        self.train_scatter.clear()
        self.test_scatter.clear()
        self.regions.clear()
        self.message.setText("")
        self.is_2d = False

    def show_message(self, text: str) -> None:
        self.clear_data()
        self.message.setText(text)
        self.message.setPos(0.5, 0.5)
        self.getPlotItem().setRange(xRange=(0, 1), yRange=(0, 1))

    def set_data(self, X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray,
                 feature_names: tuple[str, ...], class_count: int, standardized: bool, key=None) -> None:
        """Show the points; data that is not 2-D gets a note instead. `key` names the data (see shown_key)."""
        self.clear_data()
        self.shown_key = key
        if X_train.ndim != 2 or X_train.shape[1] != 2:
            self.show_message(f"{X_train.shape[1]} features: the scatter shows 2-D data only")
            return
        self.is_2d = True
        self._class_count = class_count
        suffix = " (standardized)" if standardized else ""
        item = self.getPlotItem()
        item.setLabel("bottom", f"{feature_names[0]}{suffix}")
        item.setLabel("left", f"{feature_names[1]}{suffix}")
        self._scatter(self.train_scatter, X_train, y_train, alpha=230)
        self._scatter(self.test_scatter, X_test, y_test, alpha=255)
        X = np.concatenate([X_train, X_test]) if X_test.shape[0] else X_train
        # Python floats: pyqtgraph compares float32 ranges with float64 limits and warns of overflow.
        lo, hi = X.min(axis=0).astype(float).tolist(), X.max(axis=0).astype(float).tolist()
        pad = [max((h - low) * 0.08, 0.25) for low, h in zip(lo, hi, strict=True)]
        item.setRange(xRange=(lo[0] - pad[0], hi[0] + pad[0]), yRange=(lo[1] - pad[1], hi[1] + pad[1]), padding=0)

    def _scatter(self, scatter: pg.ScatterPlotItem, X: np.ndarray, y: np.ndarray, alpha: int) -> None:
        if X.shape[0] == 0:
            scatter.clear()
            return
        if X.shape[0] > self.MAX_POINTS:
            idx = np.linspace(0, X.shape[0] - 1, self.MAX_POINTS).astype(int)
            X, y = X[idx], y[idx]
        brushes = [pg.mkBrush(class_color(int(k), alpha)) for k in range(max(self._class_count, int(y.max()) + 1))]
        # The book's 7 points want big markers; a thousand want small ones that do not hide each other.
        big = X.shape[0] <= 100
        is_test = scatter is self.test_scatter
        size = (13 if big else 8) if is_test else (9 if big else 5)
        pen = pg.mkPen("k", width=1.2 if big else 0.6) if is_test else pg.mkPen("w", width=0.8 if big else 0.3)
        scatter.setData(x=X[:, 0], y=X[:, 1], brush=[brushes[int(k)] for k in y], size=size, pen=pen)

    def set_regions(self, predicted: np.ndarray, confidence: np.ndarray, x_range: tuple[float, float],
                    y_range: tuple[float, float]) -> None:
        """Shade each grid cell with its predicted class; more confident cells are stronger."""
        if not self.is_2d:
            return
        k = max(self._class_count, int(predicted.max()) + 1, 2)
        palette = np.array([class_color(i)[:3] for i in range(k)], dtype=np.float32)
        rgb = palette[predicted]
        # Confidence 1/k (a coin toss) is nearly clear, 1.0 is a soft tint.
        # A diverged model predicts nan: show it as no confidence rather than garbage.
        confidence = np.nan_to_num(confidence, nan=0.0)
        strength = np.clip((confidence - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 1.0)
        alpha = (25 + 75 * strength).astype(np.float32)
        rgba = np.concatenate([rgb, alpha[..., None]], axis=-1).astype(np.uint8)
        self.regions.setImage(rgba, autoLevels=False)
        ny, nx = predicted.shape
        # Cell centres sit on the grid points, so the image extends half a cell beyond them.
        dx = (x_range[1] - x_range[0]) / max(nx - 1, 1)
        dy = (y_range[1] - y_range[0]) / max(ny - 1, 1)
        self.regions.setRect(QRectF(x_range[0] - dx / 2, y_range[0] - dy / 2, dx * nx, dy * ny))
