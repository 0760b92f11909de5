"""Live plots: per-batch and per-epoch loss, accuracy per epoch, and the 2-D data with decision regions."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem

from app.colors import BATCH_COLOR, TEST_COLOR, TRAIN_COLOR, class_color  # noqa: F401  (class_color: re-exported)
from core.events import EpochEnd
from core.history import History

# White plots read better in a classroom projector and in screenshots than pyqtgraph's black.
pg.setConfigOptions(background="w", foreground="#202020", antialias=True)

# Beyond this many epochs the per-epoch markers only hide the line.
MAX_EPOCH_SYMBOLS = 200
# The loss curve is drawn from at most this many points: the batch losses in view themselves up to
# here, beyond it each block's min and max (what peak downsampling shows: about one pair per pixel
# column of a wide plot), so that a live update costs the same at a million batches as at a thousand.
DRAWN_POINTS = 8192


def _tidy(item: pg.PlotItem) -> None:
    """Room on the right so edge points are not clipped, plain numbers on the axes (no "x0.001"), and
    axes (with their grid lines) kept as pixmaps: drawn again only when their range or size changes,
    not with every new batch (a grid cost ~8 ms of every repaint on a slow machine, cached under 1 ms)."""
    item.layout.setContentsMargins(4, 4, 14, 4)
    for name in ("left", "bottom"):
        item.getAxis(name).enableAutoSIPrefix(False)
    for name in ("left", "bottom", "right", "top"):
        item.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def _drawn_as_given(curve: pg.PlotDataItem) -> None:
    """No downsampling or clipping by pyqtgraph: the curve is drawn from the points it is given (few:
    one per epoch, or chosen for the view), and is not rebuilt, markers and all, whenever the view's
    range changes."""
    curve.setDownsampling(ds=1, auto=False)
    curve.setClipToView(False)


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

    def truncate(self, n: int) -> None:
        """Keep the first n values."""
        self._n = min(self._n, max(0, n))


class PeakLevels:
    """Each block's min and max at coarser and coarser levels (FACTOR**j values a block at level j),
    kept up to date as values are appended: the cost of an append is that of the new values, not
    of the history, so a curve of any length can be shown from a few thousand points.
    """

    FACTOR = 4

    def __init__(self, target: int):
        self.target = target  # levels are built until one draws at most this many points
        self._mins: list[GrowingBuffer] = []
        self._maxs: list[GrowingBuffer] = []

    def clear(self) -> None:
        for buf in (*self._mins, *self._maxs):
            buf.clear()

    def reserve(self, n: int) -> None:
        size = n
        for lo, hi in zip(self._mins, self._maxs, strict=True):
            size = -(-size // self.FACTOR)
            lo.reserve(size)
            hi.reserve(size)

    def update(self, values: np.ndarray, first_new: int) -> None:
        """`values` (all of them) changed from index `first_new` on (appended, or the first time)."""
        f = self.FACTOR
        lo_src = hi_src = values
        n, changed, j = values.shape[0], first_new, 0
        while 2 * n > self.target:  # two points (min, max) a block
            if j == len(self._mins):
                self._mins.append(GrowingBuffer(np.float64))
                self._maxs.append(GrowingBuffer(np.float64))
            # From the block holding the first changed value, or from where this level stops (a
            # level first needed now is built whole).
            first_block = min(changed // f, len(self._mins[j]))
            starts = np.arange(0, n - first_block * f, f)
            # fmin/fmax skip a nan (a diverged batch) unless the whole block is nan.
            mins = np.fmin.reduceat(lo_src[first_block * f : n], starts)
            maxs = np.fmax.reduceat(hi_src[first_block * f : n], starts)
            for buf, new in ((self._mins[j], mins), (self._maxs[j], maxs)):
                buf.truncate(first_block)
                buf.extend(new)
            lo_src, hi_src = self._mins[j].view(), self._maxs[j].view()
            n, changed, j = lo_src.shape[0], first_block, j + 1
        for buf in (*self._mins[j:], *self._maxs[j:]):  # levels a shorter history no longer needs
            buf.clear()

    def select(self, steps: np.ndarray, values: np.ndarray, i0: int, i1: int) -> tuple[np.ndarray, np.ndarray]:
        """(x, y) to draw for values[i0:i1]: the values themselves when there are at most `target`,
        else each block's min and max (in that order, at the block's first step) at the finest level
        that keeps under `target` points: what peak downsampling of the values themselves shows."""
        if i1 - i0 <= self.target:
            return steps[i0:i1], values[i0:i1]
        f = self.FACTOR
        size = 1
        for lo, hi in zip(self._mins, self._maxs, strict=True):
            size *= f
            b0, b1 = i0 // size, min(-(-i1 // size), len(lo))
            if 2 * (b1 - b0) <= self.target or lo is self._mins[-1]:
                m = b1 - b0
                x = np.empty(2 * m + 1, dtype=np.float64)
                y = np.empty(2 * m + 1, dtype=np.float64)
                x[0:-1:2] = x[1:-1:2] = steps[np.arange(b0, b1) * size]
                y[0:-1:2] = lo.view()[b0:b1]
                y[1:-1:2] = hi.view()[b0:b1]
                x[-1], y[-1] = steps[i1 - 1], values[i1 - 1]  # the curve ends where the data does
                return x, y
        return steps[i0:i1], values[i0:i1]


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
        # No grid: the plot reads more calmly without one, and the axes stay cheap to draw.
        item.addLegend(offset=(-10, 10))
        # No antialiasing for the dense batch line: it looks the same and draws several times faster.
        self.batch_curve = item.plot(pen=pg.mkPen(BATCH_COLOR, width=1), name="batch loss", antialias=False)
        # Its points are chosen here (see _redraw_batches), not by pyqtgraph's downsampling and
        # clipping, which worked on the whole history at every update (10 ms at a million batches).
        _drawn_as_given(self.batch_curve)
        self.train_curve = item.plot(pen=pg.mkPen(TRAIN_COLOR, width=2), name="train loss (epoch mean)")
        self.test_curve = item.plot(pen=pg.mkPen(TEST_COLOR, width=2), name="test loss (epoch end)")
        for curve in (self.train_curve, self.test_curve):
            _drawn_as_given(curve)
        # Cross-entropy is never below 0: keeping 0 in the y range shows the loss at its true scale and
        # keeps the axis still while the loss falls (an axis whose range changes is drawn again, at
        # every update). A transparent point (a curve without a pen has no bounds); in log mode log(0)
        # is dropped and the range follows the data.
        self._zero = item.plot([1.0], [0.0], pen=pg.mkPen((0, 0, 0, 0)))
        self._zero.setVisible(False)  # shown with the first loss
        self._steps = GrowingBuffer(np.float64)
        self._losses = GrowingBuffer(np.float64)
        self._levels = PeakLevels(DRAWN_POINTS)
        self._epoch_steps = GrowingBuffer(np.float64)
        self._train = GrowingBuffer(np.float64)
        self._test = GrowingBuffer(np.float64)
        # What is drawn depends on the x range shown (zoomed in: the values themselves).
        self._drawn = (0, 0, 0)  # (first, end, count) of the batch losses last drawn
        item.getViewBox().sigXRangeChanged.connect(lambda *_: self._redraw_batches(range_changed=True))
        self._y_top: float | None = None  # during a run, the top of the y range this plot set (None: autoscale)
        item.getViewBox().sigRangeChangedManually.connect(lambda *_: self._on_manual_range())

    # --- reading back ---------------------------------------------------------------------------

    def batch_losses(self) -> np.ndarray:
        return self._losses.view().copy()

    def batch_steps(self) -> np.ndarray:
        return self._steps.view().copy()

    def epoch_losses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(step at each epoch's end, train loss, test loss (nan where none))."""
        return self._epoch_steps.view().copy(), self._train.view().copy(), self._test.view().copy()

    # --- feeding --------------------------------------------------------------------------------

    def clear_data(self, keep_range: bool = False) -> None:
        """Drop the curves; `keep_range` holds the axes where they are (a run is about to set them:
        moving them twice would draw every axis twice as the run starts)."""
        item = self.getPlotItem()
        if keep_range:
            item.disableAutoRange()
        for buf in (self._steps, self._losses, self._epoch_steps, self._train, self._test):
            buf.clear()
        self._levels.clear()
        self._redraw_batches()
        self._redraw_epochs()
        if not keep_range:
            item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)  # as when made; autoscaled again below
            item.enableAutoRange(enable=True)

    def begin_run(self, first_step: int, total_steps: int) -> None:
        """Hold the axes still for the run: x spans the whole run (the curve grows across it, showing
        progress) and y runs from 0 to the highest loss, raised only when a loss goes above it. An
        axis whose range changes is drawn again, and every item with it (~8 ms on a slow machine),
        where autoscaling moved the y range a little at nearly every update."""
        # Room for the whole run now: doubling a million-value buffer mid-run stalled one update ~40 ms.
        for buf in (self._steps, self._losses):
            buf.reserve(len(buf) + total_steps)
        self._levels.reserve(len(self._losses) + total_steps)
        item = self.getPlotItem()
        start = min(first_step, int(self._steps.view()[0])) if len(self._steps) else first_step
        item.setXRange(start, max(first_step + total_steps - 1, start + 1), padding=0.02)
        # A log scale (the context menu) keeps autoscaling: 0 has no place on it.
        self._y_top = 0.0 if not item.getViewBox().state["logMode"][1] else None
        if self._y_top is not None:
            item.enableAutoRange(axis="y", enable=False)
            self._raise_y_top(self._losses.view())

    def end_run(self) -> None:
        self._y_top = None
        self.getPlotItem().enableAutoRange(enable=True)

    def _raise_y_top(self, losses: np.ndarray) -> None:
        finite = losses[np.isfinite(losses)]
        if self._y_top is None or not len(finite) or finite.max() <= self._y_top:
            return
        # 10% of headroom, so a loss that creeps up does not move the axis at every update.
        self._y_top = float(finite.max()) * 1.1
        self.getPlotItem().setYRange(0.0, self._y_top, padding=0.02)

    def _on_manual_range(self) -> None:
        self._y_top = None  # the person zoomed or panned: the view is theirs until the next run

    def append_batches(self, steps: np.ndarray, losses: np.ndarray) -> None:
        if len(losses) == 0:
            return
        first_new = len(self._losses)
        self._steps.extend(steps)
        self._losses.extend(losses)
        self._levels.update(self._losses.view(), first_new)
        self._raise_y_top(np.asarray(losses, dtype=np.float64))
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

    def _redraw_batches(self, range_changed: bool = False) -> None:
        """Draw the batch losses in the x range shown (all of them while the x axis follows the data),
        from at most DRAWN_POINTS points, so an update costs the same at a hundred or a million batches."""
        steps, losses = self._steps.view(), self._losses.view()
        n = len(losses)
        i0, i1 = 0, n
        vb = self.getPlotItem().getViewBox()
        if n > DRAWN_POINTS and not vb.autoRangeEnabled()[0]:
            x0, x1 = vb.viewRange()[0]
            i0 = max(0, int(np.searchsorted(steps, x0)) - 1)
            i1 = max(i0, min(n, int(np.searchsorted(steps, x1, side="right")) + 1))
        if range_changed and (i0, i1, n) == self._drawn:
            return  # a range change that shows no other points (the x axis following new data)
        self._drawn = (i0, i1, n)
        self._zero.setVisible(n > 0)  # 0 belongs in the range of a curve, not of an empty plot
        x, y = self._levels.select(steps, losses, i0, i1)
        # Views of the buffers are safe to hand over: what is filled is never written again (until clear_data).
        self.batch_curve.setData(x, y)

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
        item.setYRange(0.0, 1.0, padding=0.05)
        item.enableAutoRange(axis="y", enable=False)
        item.addLegend(offset=(-10, -10))
        self.train_curve = item.plot(pen=pg.mkPen(TRAIN_COLOR, width=2), name="train")
        self.test_curve = item.plot(pen=pg.mkPen(TEST_COLOR, width=2), name="test")
        for curve in (self.train_curve, self.test_curve):
            _drawn_as_given(curve)
        self._whole_epochs: bool | None = None  # the bottom axis's tick spacing, as last set
        # Whole-epoch ticks follow the range on screen, not the data: an emptied plot keeps its last
        # range, and ticks at every epoch over 30 epochs were drawn on top of each other.
        item.getViewBox().sigXRangeChanged.connect(self._on_x_range)
        (x0, x1), _ = item.getViewBox().viewRange()
        self._set_ticks(x1 - x0)  # the empty plot's 0..1: no "0.2 epochs"
        self._epochs = GrowingBuffer(np.float64)
        self._train = GrowingBuffer(np.float64)
        self._test = GrowingBuffer(np.float64)

    def accuracies(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return self._epochs.view().copy(), self._train.view().copy(), self._test.view().copy()

    def clear_data(self, keep_range: bool = False) -> None:
        if keep_range:  # see LossPlot.clear_data
            self.getPlotItem().enableAutoRange(axis="x", enable=False)
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

    def begin_run(self, last_epoch: int) -> None:
        """Fix the x axis to epochs 1..last_epoch for the run: the curves grow across it, and the axis
        and its grid are not drawn again at every epoch."""
        self.getPlotItem().setXRange(1, max(last_epoch, 2), padding=0.04)

    def end_run(self) -> None:
        self.getPlotItem().enableAutoRange(axis="x", enable=True)

    def tick_spacing(self) -> float | None:
        """The bottom axis's forced major tick spacing (1 = every epoch), or None for pyqtgraph's own."""
        spacing = self.getPlotItem().getAxis("bottom")._tickSpacing
        return spacing[0][0] if spacing else None

    def _on_x_range(self, _box, x_range) -> None:
        self._set_ticks(x_range[1] - x_range[0])

    def _set_ticks(self, span: float) -> None:
        # Whole epochs only: "1.5" on an epoch axis means nothing. Set only on a change: setting
        # it makes the axis (and grid) draw itself again.
        whole = span <= 12.5
        if whole != self._whole_epochs:
            self._whole_epochs = whole
            axis = self.getPlotItem().getAxis("bottom")
            axis.setTickSpacing(major=1, minor=1) if whole else axis.setTickSpacing()

    def _redraw(self) -> None:
        x = self._epochs.view()
        symbols = len(x) <= MAX_EPOCH_SYMBOLS
        test = self._test.view()
        self.train_curve.setData(x, self._train.view(), symbol="o" if symbols else None, symbolSize=6,
                                 symbolBrush=TRAIN_COLOR, symbolPen=None)
        has_test = bool(len(test)) and not np.all(np.isnan(test))
        self.test_curve.setData(x if has_test else [], test if has_test else [], symbol="s" if symbols else None,
                                symbolSize=6, symbolBrush=TEST_COLOR, symbolPen=None, connect="finite")

