"""The live loss plot: every run shown, per batch (raw and smoothed) and per epoch."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pyqtgraph as pg

from app.plots.colors import BATCH_COLOR, TEST_COLOR, TRAIN_COLOR, class_color  # noqa: F401  (class_color: re-exported)
from app.plots.common import cached, draw_epoch_pair, tidy
from app.plots.traces import DRAWN_POINTS, MAX_EPOCH_SYMBOLS, RunTraces, Trace  # noqa: F401  (DRAWN_POINTS: re-exported)
from app.state.runs import X_LABELS, X_MODES, RunList, RunRecord
from core.events import EpochEnd
from core.history import History


class LossPlot(pg.PlotWidget):
    """The loss of every batch of every run shown (each run its colour; with smoothing, TensorBoard's
    debiased moving average over the raw curve drawn faint), and the current run's mean training loss
    per epoch and test loss at each epoch's end.

    The curves' data lives in app.state.runs.RunRecord objects: the window appends to them and calls
    `refresh()`; fed alone (tests, benchmarks), `append_batches`/`append_epochs` do both. Read back with
    `batch_losses()` / `batch_steps()` (the current run's values, never downsampled) or
    `batch_curve.getData()` (what is drawn).
    """

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("lossPlot")
        self.setAccessibleName("Loss plot")
        self.setToolTip(
            "Cross-entropy loss. Thin line: the loss of every batch as it trained, in the run's colour; bold line: "
            "the same smoothed (the Smoothing setting, as TensorBoard does it). Blue: each epoch's mean training "
            "loss; orange: the test loss at the end of each epoch (the current run). Drag to pan, scroll to zoom; "
            "the small 'A' button in the corner shows everything again."
        )
        item = self.getPlotItem()
        item.setTitle("Loss")
        tidy(item)
        item.setLabel("left", "loss")
        item.setLabel("bottom", X_LABELS["step"])
        self.legend = item.addLegend(offset=(-10, 10))
        self.runs = RunList()
        self._own_runs = True  # a plot fed alone keeps its own runs; the window shares one list with it
        self.smoothing = 0.0
        self.x_mode = "step"
        # The current run's curves are made once and reused by each new run; other runs get their own.
        live = (Trace(item, pg.mkPen(BATCH_COLOR, width=1), z=1), Trace(item, None, z=2, dtype=np.float32))
        self.batch_curve = live[0].item
        self._live = RunTraces(item, RunRecord(0, "", BATCH_COLOR, None), live)
        self._live_run: RunRecord | None = None
        self._train = Trace(item, pg.mkPen(TRAIN_COLOR, width=2), name="train loss (epoch mean)", symbol="o",
                            symbol_brush=TRAIN_COLOR, z=3)
        self._test = Trace(item, pg.mkPen(TEST_COLOR, width=2), name="test loss (epoch end)", symbol="s",
                           symbol_brush=TEST_COLOR, z=3)
        self.train_curve, self.test_curve = self._train.item, self._test.item
        cached(self._train, self._test)
        self._others: dict[int, RunTraces] = {}
        # Cross-entropy is never below 0: keeping 0 in the y range shows the loss at its true scale and
        # keeps the axis still while the loss falls (an axis whose range changes is drawn again, at
        # every update). A transparent point (a curve without a pen has no bounds); in log mode log(0)
        # is dropped and the range follows the data.
        self._zero = item.plot([1.0], [0.0], pen=pg.mkPen((0, 0, 0, 0)))
        self._zero.setVisible(False)  # shown with the first loss
        item.getViewBox().sigXRangeChanged.connect(lambda *_: self._redraw_batches(range_changed=True))
        self._y_top: float | None = None  # during a run, the top of the y range this plot set (None: autoscale)
        item.getViewBox().sigRangeChangedManually.connect(lambda *_: self._on_manual_range())
        self._epochs_drawn = 0

    # --- runs ----------------------------------------------------------------------------------

    @property
    def current(self) -> RunRecord | None:
        return self._live_run

    def set_runs(self, runs: RunList) -> None:
        """Show the window's runs (shared with the accuracy plot and the runs panel)."""
        self.runs, self._own_runs = runs, False
        self.sync_runs()

    def set_current(self, run: RunRecord | None) -> None:
        """The run the live curves show (None: none; the others stay as they are)."""
        if run is self._live_run:
            return
        self._live_run = run
        self._live.reset()
        self._train.reset()
        self._test.reset()
        self._epochs_drawn = 0
        if run is not None:
            self._live.run = run
            run.set_smoothing(self.smoothing) if run.smoothing != self.smoothing else None
        self.sync_runs()

    def sync_runs(self) -> None:
        """Curves for the runs shown and their colours, names and legend, after the list changed."""
        item = self.getPlotItem()
        shown = {r.id: r for r in self.runs.visible() if r is not self._live_run}
        for run_id in list(self._others):
            if run_id not in shown or self._others[run_id].run is not shown[run_id]:
                self._others.pop(run_id).remove()
        for run_id, run in shown.items():
            if run_id not in self._others:
                if run.smoothing != self.smoothing:
                    run.set_smoothing(self.smoothing)
                self._others[run_id] = RunTraces(item, run)
        live = self._live_run
        visible = live is not None and (live.visible or live not in self.runs.runs)
        for t in (self._live.raw, self._live.smooth):
            t.item.setVisible(visible)
        # The current run's epoch means and test losses when it is alone: beside other runs they are clutter
        # (the accuracy plot still has its train and test curves).
        for t in (self._train, self._test):
            t.item.setVisible(visible and not self._others)
        self._live.smooth.item.setVisible(visible and bool(self.smoothing))
        if live is not None:
            # Alone, the current run keeps the plain grey batch line; beside other runs, its colour.
            self._live.style(self.smoothing) if self._others else self._style_single()
        for traces in self._others.values():
            traces.style(self.smoothing)
        self._legend()
        self._redraw_batches(force=True)
        self._redraw_epochs(force=True)

    def _style_single(self) -> None:
        self._live.raw.item.setPen(pg.mkPen(BATCH_COLOR if not self.smoothing else (*BATCH_COLOR, 90), width=1))
        self._live.smooth.item.setPen(pg.mkPen((80, 80, 80), width=2))

    def _legend(self) -> None:
        self.legend.clear()
        entries = []
        if self._live_run is not None and self._live.raw.item.isVisible():
            main = self._live.smooth if self.smoothing else self._live.raw
            entries.append((main.item, self._live_run.name or "batch loss"))
        for traces in self._others.values():
            entries.append((traces.smooth.item if self.smoothing else traces.raw.item, traces.run.name))
        if self._live_run is not None:  # in the order the runs were made
            order = {r.id: i for i, r in enumerate(self.runs.runs)}
            entries.sort(key=lambda e: order.get(self._run_of(e[0]), -1))
        if len(entries) == 1 and not self._others:
            entries = [(entries[0][0], "batch loss" + (" (smoothed)" if self.smoothing else ""))]
        for curve, name in entries:
            self.legend.addItem(curve, name)
        if self._live_run is not None and not self._others and self._live.raw.item.isVisible():
            self.legend.addItem(self._train.item, "train loss (epoch mean)")
            self.legend.addItem(self._test.item, "test loss (epoch end)")

    def _run_of(self, item) -> int | None:
        if item in (self._live.raw.item, self._live.smooth.item):
            return self._live_run.id if self._live_run is not None else None
        return next((t.run.id for t in self._others.values() if item in (t.raw.item, t.smooth.item)), None)

    def set_smoothing(self, weight: float) -> None:
        """TensorBoard's smoothing weight (0: off) for every run shown."""
        weight = float(weight)
        if weight == self.smoothing:
            return
        self.smoothing = weight
        for run in {*self.runs.runs, *([self._live_run] if self._live_run else [])}:
            run.set_smoothing(weight)
        self._live.smooth.reset()
        for traces in self._others.values():
            traces.smooth.reset()
        self.sync_runs()

    def set_x_mode(self, mode: str) -> None:
        """x by "step", "epoch", "samples" (seen) or "time" (wall time)."""
        if mode not in X_MODES or mode == self.x_mode:
            return
        self.x_mode = mode
        item = self.getPlotItem()
        item.setLabel("bottom", X_LABELS[mode])
        item.enableAutoRange(axis="x", enable=True)
        self._redraw_batches(force=True)
        self._redraw_epochs(force=True)

    def set_log_y(self, on: bool) -> None:
        item = self.getPlotItem()
        item.setLogMode(y=bool(on))
        if on:
            self._y_top = None
        item.enableAutoRange(axis="y", enable=True)

    # --- reading back ---------------------------------------------------------------------------

    def batch_losses(self) -> np.ndarray:
        run = self._live_run
        return run.losses.view().copy() if run is not None else np.empty(0)

    def batch_steps(self) -> np.ndarray:
        run = self._live_run
        return run.steps() if run is not None else np.empty(0)

    def epoch_losses(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(step at each epoch's end, train loss, test loss (nan where none)) of the current run."""
        run = self._live_run
        if run is None:
            return np.empty(0), np.empty(0), np.empty(0)
        return (run.epoch_column("step").copy(), run.epoch_column("train_loss").copy(),
                run.epoch_column("test_loss").copy())

    # --- feeding --------------------------------------------------------------------------------

    def clear_data(self, keep_range: bool = False) -> None:
        """No current run (a plot fed alone forgets its runs too); `keep_range` holds the axes where they are
        (a run is about to set them: moving them twice would draw every axis twice as the run starts)."""
        item = self.getPlotItem()
        if keep_range:
            item.disableAutoRange()
        if self._own_runs:
            self.runs = RunList()
        self.set_current(None)
        self._redraw_batches(force=True)
        self._redraw_epochs(force=True)
        if not keep_range:
            item.setRange(xRange=(0, 1), yRange=(0, 1), padding=0)  # as when made; autoscaled again below
            item.enableAutoRange(enable=True)

    def _own_current(self) -> RunRecord:
        if self._live_run is None:
            run = self.runs.new_run(None)
            self.set_current(run)
        return self._live_run

    def append_batches(self, steps: np.ndarray, losses: np.ndarray) -> None:
        """Fed alone: add batch losses to the current run (a new one if none) and draw them."""
        if len(losses) == 0:
            return
        self._own_current().append_batches(np.asarray(steps), np.asarray(losses, dtype=np.float64))
        self.refresh(epochs=False)

    def append_epochs(self, epochs: Iterable[EpochEnd]) -> None:
        epochs = list(epochs)
        if epochs:
            self._own_current().append_epochs(epochs)
            self.refresh(batches=False)

    def set_history(self, history: History) -> None:
        """Fed alone: show a whole history at once as the current run."""
        self.clear_data()
        if len(history.batch_loss) or history.epochs:
            run = self.runs.new_run(None)
            run.set_history(history)
            self.set_current(run)

    def refresh(self, batches: bool = True, epochs: bool = True) -> None:
        """Draw what the current run gained since the last refresh."""
        run = self._live_run
        if run is None:
            return
        if batches:
            n0 = self._live.raw._levelled
            self._raise_y_top(run.losses.view()[n0:])
            self._redraw_batches()
        if epochs:
            self._redraw_epochs()

    def begin_run(self, first_step: int, total_steps: int, first_epoch: int | None = None,
                  epochs: int | None = None) -> None:
        """Hold the axes still for the run: x spans the whole run (the curve grows across it, showing
        progress) and y runs from 0 to the highest loss, raised only when a loss goes above it. An
        axis whose range changes is drawn again, and every item with it (~8 ms on a slow machine),
        where autoscaling moved the y range a little at nearly every update."""
        run = self._live_run
        if run is not None:
            # Room for the whole run now: doubling a million-value buffer mid-run stalled one update ~40 ms.
            run.reserve(total_steps)
            self._live.raw.levels.reserve(len(run) + total_steps)
        item = self.getPlotItem()
        if self.x_mode == "step":
            start = min(first_step, run.first_step) if run is not None and len(run) else first_step
            item.setXRange(start, max(first_step + total_steps - 1, start + 1), padding=0.02)
        elif self.x_mode == "epoch" and first_epoch is not None and epochs:
            item.setXRange(0, first_epoch - 1 + epochs, padding=0.02)
        else:
            item.enableAutoRange(axis="x", enable=True)
        # A log scale keeps autoscaling: 0 has no place on it.
        self._y_top = 0.0 if not item.getViewBox().state["logMode"][1] else None
        if self._y_top is not None:
            item.enableAutoRange(axis="y", enable=False)
            self._raise_y_top(run.losses.view() if run is not None else np.empty(0))
            for traces in self._others.values():
                self._raise_y_top(traces.run.losses.view())

    def end_run(self) -> None:
        self._y_top = None
        self.refresh()
        self.getPlotItem().enableAutoRange(enable=True)

    def _raise_y_top(self, losses: np.ndarray) -> None:
        if self._y_top is None or not len(losses):
            return
        finite = losses[np.isfinite(losses)]
        if not len(finite) or finite.max() <= self._y_top:
            return
        # 10% of headroom, so a loss that creeps up does not move the axis at every update.
        self._y_top = float(finite.max()) * 1.1
        self.getPlotItem().setYRange(0.0, self._y_top, padding=0.02)

    def _on_manual_range(self) -> None:
        self._y_top = None  # the person zoomed or panned: the view is theirs until the next run

    def _view(self) -> tuple[float, float] | None:
        vb = self.getPlotItem().getViewBox()
        return None if vb.autoRangeEnabled()[0] else tuple(vb.viewRange()[0])

    def _redraw_batches(self, range_changed: bool = False, force: bool = False) -> None:
        view = self._view()
        if self._live_run is not None:
            self._live.draw(self.x_mode, view, force)
        if range_changed or force:
            for traces in self._others.values():
                traces.draw(self.x_mode, view, force)
        self._zero.setVisible(self._live_run is not None and len(self._live_run) > 0 or bool(self._others))

    def refresh_epochs(self) -> bool:
        """Draw the current run's new epochs; False when there were none."""
        return self._redraw_epochs()

    def _redraw_epochs(self, force: bool = False) -> bool:
        run = self._live_run
        if run is None:
            self._train.clear()
            self._test.clear()
            return False
        n = len(run.epochs)
        if n == self._epochs_drawn and not force:
            return False
        self._epochs_drawn = n
        xs = run.epoch_x(self.x_mode)
        draw_epoch_pair(self._train, self._test, xs, run.epoch_column("train_loss"), run.epoch_column("test_loss"))
        return True

    # --- hover ---------------------------------------------------------------------------------

    def readout(self, x: float, y: float) -> str:
        """What the curves show nearest to (x, y) in data coordinates: the run, its step, epoch and batch,
        the raw and the smoothed loss ('' when no run is near)."""
        best = None
        log_y = self.getPlotItem().getViewBox().state["logMode"][1]
        runs = ([self._live_run] if self._live_run is not None and self._live.raw.item.isVisible() else [])
        runs += [t.run for t in self._others.values()]
        for run in runs:
            n = len(run)
            if not n:
                continue
            if self.x_mode == "step":
                i = int(np.clip(round(x - run.first_step), 0, n - 1))
            else:
                xs = run.batch_x(self.x_mode)
                i = int(np.clip(np.searchsorted(xs, x), 0, n - 1))
                if i > 0 and abs(xs[i - 1] - x) <= abs(xs[i] - x):
                    i -= 1  # the nearest batch, not the first one right of the pointer
            loss = float(run.losses.view()[i])
            shown = float(run.smoothed.view()[i]) if run.smoothing and i < len(run.smoothed) else loss
            if not np.isfinite(shown):
                continue
            dist = abs((np.log10(shown) if log_y and shown > 0 else shown) - y)
            if best is None or dist < best[0]:
                best = (dist, run, i, loss, shown)
        if best is None:
            return ""
        _, run, i, loss, shown = best
        step = run.first_step + i
        text = (f"{run.name or 'run'} · step {step:,} · epoch {int(run.epoch.view()[i])} batch {int(run.batch.view()[i])}"
                f" · loss {loss:.4g}")
        if run.smoothing:
            text += f" · smoothed {shown:.4g}"
        if self.x_mode == "time" and np.isfinite(run.elapsed.view()[i]):
            text += f" · {float(run.elapsed.view()[i]):.2f} s"
        elif self.x_mode == "samples":
            text += f" · {int(run.batch_x('samples')[i]):,} samples"
        return text
