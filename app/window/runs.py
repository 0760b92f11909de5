"""The window's runs kept side by side: which run a Train feeds, the runs panel, the curve controls and
the curves' export. A mixin of MainWindow; the records themselves are app.state.runs (no Qt)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QBuffer, QIODevice, QObject, QTimer
from PySide6.QtWidgets import QFileDialog, QWidget

from app.run.controller import TrainingController
from app.run.tasks import TaskRunner
from app.state.model_state import ModelState
from app.state.runs import RunList, RunRecord, export_curves_csv
from app.window.messages import Messages
from core.atomic import atomic_write, atomic_write_text
from core.history import History

if TYPE_CHECKING:
    from app.run.controller import Drained
    from core.config import TrainConfig

IMAGE_WIDTH = 1600  # px of an exported PNG (the plot scaled up: sharp on a slide)


class RunViews(QObject):
    """Runs, their curves and the controls above the loss plot."""

    def __init__(self, ui, model: ModelState, controller: TrainingController, tasks: TaskRunner, messages: Messages,
                 parent: QWidget):
        super().__init__(parent)
        self._ui = ui
        self._model = model
        self._controller = controller
        self._tasks = tasks
        self._messages = messages
        self._parent = parent  # the dialogs' parent
        self.runs = RunList()
        self._shown_history: History | None = None  # the model history the current run was made from
        self.loss_plot, self.accuracy_plot, self.runs_panel = ui.loss_plot, ui.accuracy_plot, ui.runs_panel
        self.loss_plot.set_runs(self.runs)
        self.accuracy_plot.set_runs(self.runs)
        p = self.runs_panel
        p.visibilityChanged.connect(self.set_run_visible)
        p.renamed.connect(self.rename_run)
        p.removeRequested.connect(self.remove_run)
        p.restoreRequested.connect(self.restore_run_settings)
        c = ui.curve_controls
        c.smoothingChanged.connect(self.loss_plot.set_smoothing)
        c.xModeChanged.connect(self.loss_plot.set_x_mode)
        c.logScaleChanged.connect(self.loss_plot.set_log_y)
        c.exportRequested.connect(self._export_from_menu)
        # The hover readout, at most 30 times a second (a mouse sends hundreds of moves).
        self._hover = pg.SignalProxy(self.loss_plot.scene().sigMouseMoved, rateLimit=30, slot=self._on_hover)

    # --- which run a Train feeds ------------------------------------------------------------------

    def record_for(self, mode: str, cfg: TrainConfig, history_before: History | None = None) -> RunRecord:
        """The record this run's curves go to: a new run from fresh weights, else the current one goes on."""
        current = self.runs.current
        if mode == "new" or current is None or current not in self.runs.runs:
            record = self.runs.new_run(cfg)
            if mode != "new":  # going on from a model whose run was removed: its history comes back as a run
                record.set_history(history_before if history_before is not None else self._model.history(), cfg.batch_size)
        else:
            record = current
            record.cfg = cfg
        record.begin_fit()
        record.result = None
        self._set_current_run(record)
        return record

    def _set_current_run(self, record: RunRecord | None) -> None:
        self.runs.current = record
        self.loss_plot.set_current(record)
        self.accuracy_plot.set_current(record)
        self.runs_panel.set_runs(self.runs, record)
        self._ui.view_tabs_bottom.setTabText(1, f"Runs ({len(self.runs)})")

    def record_progress(self, d: Drained) -> None:
        """Add what the worker sent to the current run's record (cheap; drawing is the window's business)."""
        record = self.runs.current
        if record is None:
            return
        if len(d.losses):
            bpe = d.last_batch.batches_per_epoch if d.last_batch is not None else None
            if d.epoch_of is not None and len(d.epoch_of) == len(d.losses):
                record.append_batches(d.steps, d.losses, d.elapsed, d.epoch_of, d.batch_of, d.sizes, bpe)
            else:
                record.append_batches(d.steps, d.losses)
        if d.epochs:
            record.append_epochs(d.epochs)

    def record_ended(self, result) -> None:
        record = self.runs.current
        if record is None:
            return
        record.result = result
        if not len(record) and not record.epochs:  # nothing was trained: no run to keep
            self.runs.remove(record.id)
            self._set_current_run(None)
            return
        self.runs_panel.set_runs(self.runs, record)

    def show_history(self, history: History) -> None:
        """The current model's curves (an opened file's, or none after a Reset): a file's history is a run."""
        if not len(history.batch_loss) and not history.epochs:
            self._shown_history = None
            self._set_current_run(None)
            return
        if history is self._shown_history and self.runs.current is not None:
            return
        self._shown_history = history
        current = self.runs.current
        if current is not None and len(current) == len(history.batch_loss) and np.array_equal(
                current.losses.view(), history.losses()):
            return  # the file a run just saved (a run on several processes): the run is already here
        path = self._model.path
        name = os.path.basename(path) if path else None
        cfg = self._model.weights.config if self._model.weights is not None else None
        record = self.runs.new_run(cfg, name=name, source=path or "trained")
        record.set_history(history, cfg.batch_size if cfg is not None else None)
        self._set_current_run(record)

    # --- the runs panel ---------------------------------------------------------------------------

    def set_run_visible(self, run_id: int, shown: bool) -> None:
        run = self.runs.get(run_id)
        if run is not None and run.visible != shown:
            run.visible = shown
            self.loss_plot.sync_runs()
            self.accuracy_plot.sync_runs()
            # The table follows too (a call from code); rebuilt after the click that may have started this.
            QTimer.singleShot(0, self.runs_panel, lambda: self.runs_panel.set_runs(self.runs, self.runs.current))

    def rename_run(self, run_id: int, name: str) -> None:
        run = self.runs.get(run_id)
        if run is not None and run.name != name:
            run.name = name
            self.loss_plot.sync_runs()
            self.accuracy_plot.sync_runs()
            self.runs_panel.set_runs(self.runs, self.runs.current)

    def remove_run(self, run_id: int) -> None:
        """Forget a run and its curves (the model, if it was the current run's, stays)."""
        if self._controller.is_running() and self.runs.current is not None and self.runs.current.id == run_id:
            self._messages.status("The run that is training cannot be removed: stop it first.", "info")
            return
        was_current = self.runs.current is not None and self.runs.current.id == run_id
        self.runs.remove(run_id)
        if was_current:
            self.loss_plot.set_current(None)
            self.accuracy_plot.set_current(None)
        self.loss_plot.sync_runs()
        self.accuracy_plot.sync_runs()
        self.runs_panel.set_runs(self.runs, self.runs.current)
        self._ui.view_tabs_bottom.setTabText(1, f"Runs ({len(self.runs)})")

    def restore_run_settings(self, run_id: int) -> None:
        """Put a run's settings back into the form."""
        run = self.runs.get(run_id)
        if run is None or run.cfg is None or self._controller.is_running():
            return
        self._ui.config_panel.set_config(run.cfg)
        self._messages.status(f"The settings of {run.name} are back in the form: Train runs them again "
                         "(Reset first to start from fresh weights).", "info")

    # --- export ---------------------------------------------------------------------------------

    def export_curves(self, path: str | os.PathLike) -> bool:
        """Write every visible run's batch losses, raw and smoothed (the smoothing set now, TensorBoard's
        debiased moving average), as CSV: `run,epoch,batch,step,loss,smoothed`. Built and written off the
        GUI thread; False (with the reason shown) when it cannot be written."""
        path = os.fspath(path)
        runs = [r for r in self.runs.visible() if len(r)]
        smoothing = self.loss_plot.smoothing

        def job(cancel):
            atomic_write_text(path, export_curves_csv(runs, smoothing))
            return path

        def done(_path) -> None:
            self._messages.status(f"Wrote the curves of {len(runs)} run{'s' if len(runs) != 1 else ''} to {path}.", "info")

        def failed(exc: BaseException) -> None:
            self._messages.error("Cannot export the curves", f"Cannot write {path}: {exc}")

        return self._tasks.wait_ok(self._tasks.submit(job, kind="save", label="Writing the curves…", on_done=done,
                                                      on_error=failed))

    def export_plot(self, which: str, path: str | os.PathLike) -> bool:
        """Save the loss or accuracy plot ('loss', 'accuracy') as PNG or SVG (by the file's extension), written
        whole or not at all; False (with the reason shown) when it cannot be."""
        path = os.fspath(path)
        plot = self.loss_plot if which == "loss" else self.accuracy_plot
        try:
            data = _svg_bytes(plot) if path.lower().endswith(".svg") else _png_bytes(plot)
            atomic_write(path, lambda f: f.write(data))
        except (OSError, RuntimeError) as exc:
            self._messages.error("Cannot export the plot", f"Cannot write {path}: {getattr(exc, 'strerror', None) or exc}")
            return False
        self._messages.status(f"Saved the {which} plot to {path}.", "info")
        return True

    def _export_from_menu(self, key: str) -> None:
        what, kind = key.split("-")
        filters = {"png": "PNG image (*.png)", "svg": "SVG image (*.svg)", "csv": "CSV file (*.csv)"}
        start = f"{what}.{kind}"
        path, _ = QFileDialog.getSaveFileName(self._parent, "Export", start, filters[kind])
        if not path:
            return
        if not path.lower().endswith(f".{kind}"):
            path += f".{kind}"
        if what == "curves":
            self.export_curves(path)
        else:
            self.export_plot(what, path)

    # --- hover -----------------------------------------------------------------------------------

    def _on_hover(self, args) -> None:
        pos = args[0]
        vb = self.loss_plot.getPlotItem().getViewBox()
        if not vb.sceneBoundingRect().contains(pos):
            self._ui.curve_controls.readout.setText("")
            return
        point = vb.mapSceneToView(pos)
        self._ui.curve_controls.readout.setText(self.loss_plot.readout(point.x(), point.y()))


def _png_bytes(plot) -> bytes:
    """The plot as PNG, IMAGE_WIDTH px wide (pyqtgraph's exporter redraws it at that size)."""
    from pyqtgraph import exporters

    exporter = exporters.ImageExporter(plot.getPlotItem())
    exporter.parameters()["width"] = IMAGE_WIDTH
    image = exporter.export(toBytes=True)
    buffer = QBuffer()
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    if image is None or image.isNull() or not image.save(buffer, "PNG"):
        raise RuntimeError("the plot could not be drawn as an image")
    return bytes(buffer.data())


def _svg_bytes(plot) -> bytes:
    """The plot as SVG (pyqtgraph's exporter: vector curves, axes and text)."""
    import tempfile

    from pyqtgraph import exporters

    _patch_svg_paths()
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "plot.svg")
        exporters.SVGExporter(plot.getPlotItem()).export(path)
        with open(path, "rb") as f:
            return f.read()


_svg_patched = False


def _patch_svg_paths() -> None:
    """pyqtgraph 0.14.0's SVG exporter reads every token of a path as "x,y", but this Qt closes outlines
    with a bare "Z" and the export fails (pyqtgraph issue #3495, fixed after 0.14.0): the Z tokens are
    dropped before it reads the path (an outline left open looks the same)."""
    global _svg_patched
    if _svg_patched:
        return
    import importlib

    svg_module = importlib.import_module("pyqtgraph.exporters.SVGExporter")  # the module (the package re-exports the class)
    original = svg_module.correctCoordinates

    def correct(node, defs, item, options):
        for path in node.getElementsByTagName("path"):
            d = path.getAttribute("d")
            if d:
                path.setAttribute("d", " ".join(token for token in d.split() if "," in token))
        return original(node, defs, item, options)

    svg_module.correctCoordinates = correct
    _svg_patched = True
