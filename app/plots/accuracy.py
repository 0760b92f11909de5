"""The accuracy plot: train and test accuracy per epoch of the current run, and the other runs' test accuracy."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg

from app.plots.colors import BATCH_COLOR, TEST_COLOR, TRAIN_COLOR, class_color  # noqa: F401  (class_color: re-exported)
from app.plots.common import cached, draw_epoch_pair, tidy
from app.plots.traces import DRAWN_POINTS, MAX_EPOCH_SYMBOLS, RunTraces, Trace  # noqa: F401  (DRAWN_POINTS: re-exported)
from app.state.runs import RunList, RunRecord
from core.events import EpochEnd
from core.history import History


class AccuracyPlot(pg.PlotWidget):
    """Train and test accuracy at the end of each epoch (the book's compute_accuracy) of the current run,
    and the test accuracy of the other runs shown, each in its colour."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("accuracyPlot")
        self.setAccessibleName("Accuracy plot")
        self.setToolTip(
            "Share of correctly classified samples after each epoch, measured in eval mode without gradients "
            "(the book's compute_accuracy). Blue: training split; orange: test split, which the model never trains on. "
            "Other runs shown: their test accuracy, in the run's colour."
        )
        item = self.getPlotItem()
        item.setTitle("Accuracy")
        tidy(item)
        item.setLabel("left", "accuracy")
        item.setLabel("bottom", "epoch")
        item.showGrid(x=True, y=True, alpha=0.25)
        item.setYRange(0.0, 1.0, padding=0.05)
        item.enableAutoRange(axis="y", enable=False)
        self.legend = item.addLegend(offset=(-10, -10))
        self._train = Trace(item, pg.mkPen(TRAIN_COLOR, width=2), name="train", symbol="o", symbol_brush=TRAIN_COLOR, z=2)
        self._test = Trace(item, pg.mkPen(TEST_COLOR, width=2), name="test", symbol="s", symbol_brush=TEST_COLOR, z=2)
        self.train_curve, self.test_curve = self._train.item, self._test.item
        cached(self._train, self._test)
        self.runs = RunList()
        self._own_runs = True
        self._current: RunRecord | None = None
        self._others: dict[int, tuple[RunRecord, Trace]] = {}
        self._drawn = 0
        self._whole_epochs: bool | None = None  # the bottom axis's tick spacing, as last set
        # Whole-epoch ticks follow the range on screen, not the data: an emptied plot keeps its last
        # range, and ticks at every epoch over 30 epochs were drawn on top of each other.
        item.getViewBox().sigXRangeChanged.connect(self._on_x_range)
        (x0, x1), _ = item.getViewBox().viewRange()
        self._set_ticks(x1 - x0)  # the empty plot's 0..1: no "0.2 epochs"

    def accuracies(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        run = self._current
        if run is None:
            return np.empty(0), np.empty(0), np.empty(0)
        return run.epoch_column("epoch").copy(), run.epoch_column("train_acc").copy(), run.epoch_column("test_acc").copy()

    def set_runs(self, runs: RunList) -> None:
        self.runs, self._own_runs = runs, False
        self.sync_runs()

    def set_current(self, run: RunRecord | None) -> None:
        if run is self._current:
            return
        self._current = run
        self._train.reset()
        self._test.reset()
        self._drawn = 0
        self.sync_runs()

    def sync_runs(self) -> None:
        item = self.getPlotItem()
        shown = {r.id: r for r in self.runs.visible() if r is not self._current}
        for run_id in list(self._others):
            if run_id not in shown or self._others[run_id][0] is not shown[run_id]:
                self._others.pop(run_id)[1].remove()
        for run_id, run in shown.items():
            if run_id not in self._others:
                trace = Trace(item, None, z=1)
                trace.cache()
                self._others[run_id] = (run, trace)
        for run, trace in self._others.values():
            trace.item.setPen(pg.mkPen((*run.color, 220), width=2))
            acc = run.epoch_column("test_acc")
            if not len(acc) or np.isnan(acc).all():
                acc = run.epoch_column("train_acc")
            xs = run.epoch_column("epoch")
            trace.reset()
            trace.feed(acc)
            trace.draw(acc, lambda idx, xs=xs: xs[idx], force=True)
        visible = self._current is not None and (self._current.visible or self._current not in self.runs.runs)
        self._train.item.setVisible(visible)
        self._test.item.setVisible(visible)
        self.legend.clear()
        if visible:
            self.legend.addItem(self._train.item, "train")
            self.legend.addItem(self._test.item, "test")
        for run, trace in self._others.values():
            self.legend.addItem(trace.item, f"{run.name} (test)")
        self._redraw(force=True)

    def clear_data(self, keep_range: bool = False) -> None:
        if keep_range:  # see LossPlot.clear_data
            self.getPlotItem().enableAutoRange(axis="x", enable=False)
        if self._own_runs:
            self.runs = RunList()
        self.set_current(None)
        self._redraw(force=True)

    def append_epochs(self, epochs: Iterable[EpochEnd]) -> None:
        """Fed alone: add epochs to the current run (a new one if none) and draw them."""
        epochs = list(epochs)
        if not epochs:
            return
        if self._current is None:
            self.set_current(self.runs.new_run(None))
        self._current.append_epochs(epochs)
        self.refresh()

    def set_history(self, history: History) -> None:
        self.clear_data()
        if history.epochs:
            run = self.runs.new_run(None)
            run.append_epochs(history.epochs)
            self.set_current(run)

    def refresh(self) -> bool:
        """Draw the current run's new epochs; False when there were none."""
        return self._redraw()

    def begin_run(self, last_epoch: int) -> None:
        """Fix the x axis to epochs 1..last_epoch for the run: the curves grow across it, and the axis
        and its grid are not drawn again at every epoch."""
        self.getPlotItem().setXRange(1, max(last_epoch, 2), padding=0.04)

    def end_run(self) -> None:
        self._redraw()
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

    def _redraw(self, force: bool = False) -> bool:
        run = self._current
        if run is None:
            self._train.clear()
            self._test.clear()
            return False
        n = len(run.epochs)
        if n == self._drawn and not force:
            return False
        self._drawn = n
        xs = run.epoch_column("epoch")
        draw_epoch_pair(self._train, self._test, xs, run.epoch_column("train_acc"), run.epoch_column("test_acc"))
        return True
