"""The main window: wires the settings, the run, the model state and the views together; the work happens elsewhere.

Layout is in app/window_layout.py, the model and its file in app/model_state.py (no Qt), what the
views show in app/model_views.py (no Qt), the run on its thread in app/controller.py, and model-sized
work (files, data, evaluation) on worker threads through app/tasks.py.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QByteArray, QEvent, QSettings, QTimer, Slot
from PySide6.QtGui import QCloseEvent, QGuiApplication
from PySide6.QtWidgets import QMainWindow, QMessageBox, QWidget

from app.panels.config_panel import ConfigPanel
from app.run import gc_timer
from app.run.controller import Drained, TrainingController
from app.run.tasks import TaskRunner
from app.run.warmup import prepare_torch
from app.state.model_outputs import DataPoints, ModelViews
from app.state.model_state import ModelState
from app.window import layout as window_layout
from app.window.about import APP_NAME, about_text
from app.window.files import FileActions
from app.window.insight import InsightViews
from app.window.processes import ProcessRuns
from app.window.recent_files import RecentFiles
from app.window.run_status import IDLE_TEXT, Run, idle_text
from app.window.runs import RunViews
from app.window.views import ViewSync
from core.config import ConfigError, DatasetConfig, TrainConfig, batches_per_epoch, salvage_config
from core.devices import DeviceInfo, list_devices
from core.events import TrainResult
from core.history import History

if TYPE_CHECKING:
    from core.data import DataSplit
    from core.training import Trainer

# torch, and the engine modules that need it, are imported where used: with `torch_later`, the window
# is built and shown before torch has loaded.

SETTINGS_ENV = "TORCH_PLAYGROUND_SETTINGS"  # an .ini path; tests and portable installs point it elsewhere
# How long closing the window waits for a run to stop (a training loop stops within a batch).
CLOSE_WAIT_MS = 250
# A saved config is a few hundred characters; a settings file holding megabytes there is not ours.
MAX_SAVED_CONFIG_CHARS = 100_000
# During a run the epoch curves and the status texts are drawn at most this often (the batch loss at every update).
SLOW_VIEWS_S = 0.25
__all__ = ["IDLE_TEXT", "MainWindow", "make_settings"]


def make_settings(settings: QSettings | str | os.PathLike | None = None) -> QSettings:
    """The QSettings to use: the given one, an .ini path, $TORCH_PLAYGROUND_SETTINGS, or the user's."""
    if isinstance(settings, QSettings):
        return settings
    path = settings if settings is not None else os.environ.get(SETTINGS_ENV)
    if path:
        return QSettings(os.fspath(path), QSettings.Format.IniFormat)
    return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "torch-playground", "torch-playground")


class MainWindow(FileActions, ViewSync, ProcessRuns, RunViews, InsightViews, QMainWindow):
    """Torch Playground's window; its defaults are the book's run, ready to train.

    Parameters
    ----------
    settings : a QSettings, an .ini path, or None for $TORCH_PLAYGROUND_SETTINGS / the user's settings.
    devices : the devices to offer (a list of DeviceInfo or a function returning one); None asks torch.
    restore_session : restore the last window geometry and settings (the app does; tests start clean).
    torch_later : build the window without torch, to show it sooner (the app does): the device list
        offers cpu and the data preview waits until `torch_ready()` is called, once torch has loaded.

    Hooks tests may replace: `confirm_discard(question) -> bool` (asked before a trained, unsaved
    model is dropped) and `_show_message(icon, title, text)` (the message box).
    """

    def __init__(self, settings: QSettings | str | os.PathLike | None = None,
                 devices: Sequence[DeviceInfo] | Callable[[], Sequence[DeviceInfo]] | None = None,
                 restore_session: bool = False, parent: QWidget | None = None, torch_later: bool = False):
        super().__init__(parent)
        # While the window lives, Python's collector runs on this (the GUI) thread only: a collection on
        # the training thread destroyed dropped menus there and deadlocked with this thread (app.run.gc_guard).
        gc_timer.hold()
        self._gc_held = True
        self.setObjectName("mainWindow")
        self.settings = make_settings(settings)
        self._devices_arg = devices
        self._torch_ready = not torch_later
        self._pending_device: str | None = None  # a restored device choice the early device list lacks
        self._painted = False
        self._after_paint: list[Callable[[], None]] = []
        self.installEventFilter(self)
        self.confirm_discard: Callable[[str], bool] = self._ask_discard
        self.last_message: tuple[str, str] | None = None  # (title, text) of the last message box
        self._message_box: QMessageBox | None = None
        self.model = ModelState()
        self._data: tuple[DatasetConfig, DataSplit, DataPoints] | None = None  # the data last made, kept for a run
        self._run: Run | None = None
        self._closing = False
        self._status_kind = "idle"  # "idle", "refusal" (a Train that could not start) or "info"
        self._restore_note = ""  # what could not be restored from the saved settings, said once
        self._bind_tried: tuple | None = None  # (weights, data set) last bound, so the same is not tried twice
        self._slow_views_at = 0.0  # when the epoch curves and status texts were last drawn during a run
        self._slow_parts: list[str] = []  # what is left of them to draw, one per update
        self._regions_shown = None  # the decision regions last drawn during a run

        self.tasks = TaskRunner(self)
        self.tasks.busyChanged.connect(self._on_busy)
        self.controller = TrainingController(self)
        self.controller.progress.connect(self._on_progress)
        self.controller.failed.connect(self._on_failed)
        self.controller.runFinished.connect(self._on_run_finished)

        if not self._torch_ready and devices is None:
            devices = [DeviceInfo("cpu", "cpu", True)]  # the real list needs torch: torch_ready() brings it
        self._splitters = window_layout.build(self, ConfigPanel(devices), torch_later=not self._torch_ready)
        self.progress_bar = self.run_status.progress_bar
        self._init_runs()
        self._init_insight()
        self.actions_ = window_layout.build_menus(self, self)
        self.recent_menu = self.actions_.recent_menu
        self.recent = RecentFiles(self.settings, self.recent_menu, self.open_recent)
        self.train_button.clicked.connect(self.start_training)
        self.pause_button.clicked.connect(lambda: self.set_paused(not self.controller.is_paused()))
        self.processes_spin.valueChanged.connect(self._on_settings_changed)
        self.copy_command_button.clicked.connect(self._copy_command)
        self.stop_button.clicked.connect(self.stop_training)
        self.reset_button.clicked.connect(self.reset_model)
        self.predictions.predictRequested.connect(self._predict_typed)
        self.predictions.evaluateRequested.connect(self.evaluate)

        # The views follow the settings a moment after they stop changing.
        self._view_timer = QTimer(self)
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(200)
        self._view_timer.timeout.connect(self._refresh_views)
        self.config_panel.changed.connect(self._on_settings_changed)
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        if restore_session:
            self._restore_session()
        self._update_controls()
        self._update_title()
        self._set_status(idle_text(self._config_or_none()), "idle")
        if self._restore_note:
            self._set_status(self._restore_note, "info")
        if self._torch_ready:
            # torch is here already (tests, create_window): pay its one-time lazy imports now, before the
            # window is shown, rather than in a worker later, where imports hold the interpreter lock
            # for up to 150 ms at a time and the GUI would stall (the app does this behind the window).
            prepare_torch()
            self._refresh_views()
        else:
            self.data_plot.show_message("loading PyTorch…")

    # --- start-up ------------------------------------------------------------------------------

    def is_torch_ready(self) -> bool:
        return self._torch_ready

    def after_first_paint(self, callback: Callable[[], None]) -> None:
        """Call `callback` in the event loop once the window has been painted (at once if it has)."""
        if self._painted:
            QTimer.singleShot(0, callback)
        else:
            self._after_paint.append(callback)

    def is_painted(self) -> bool:
        return self._painted

    def eventFilter(self, watched, event) -> bool:  # noqa: N802 - Qt's name
        if watched is self and event.type() == QEvent.Type.Paint and not self._painted:
            self._painted = True
            self.removeEventFilter(self)
            for callback in self._after_paint:  # after this paint: in a later turn of the event loop
                QTimer.singleShot(0, callback)
            self._after_paint.clear()
        return False

    def torch_ready(self, devices: Sequence[DeviceInfo] | None = None) -> None:
        """torch has loaded (`torch_later`): offer the real devices and show the data preview."""
        if self._torch_ready:
            return
        self._torch_ready = True
        if devices is None:
            devices = self._devices_arg() if callable(self._devices_arg) else self._devices_arg
        self.config_panel.set_devices(devices if devices is not None else list_devices(), prefer=self._pending_device)
        self._pending_device = None
        if self.data_plot.message.toPlainText() == "loading PyTorch…":
            self.data_plot.show_message("")
        self.appendix.torch_ready()
        self._update_controls()
        self._refresh_views()

    # --- public API -------------------------------------------------------------------------------

    @property
    def trainer(self) -> Trainer | None:
        """The current model's trainer (None when there is none, it is not bound to data, or a run uses it)."""
        return self.model.trainer

    def is_training(self) -> bool:
        return self.controller.is_running()

    def is_dirty(self) -> bool:
        """A trained model that has not been saved since."""
        return self.model.dirty

    def has_model(self) -> bool:
        return self.model.has_model()

    def model_path(self) -> str | None:
        return self.model.path

    def batch_losses(self):
        """Every batch loss the loss plot holds (all of them, never downsampled)."""
        return self.loss_plot.batch_losses()

    def status_text(self) -> str:
        return self.status_label.text()

    def recent_files(self) -> list[str]:
        return self.recent.files()

    def train_mode(self) -> str:
        """What Train does now: 'new' (a fresh model from the seed), 'continue' or 'from-file' (go on from weights)."""
        cfg = self._config_or_none()
        return "new" if cfg is None else self.model.mode_for(cfg)

    def start_training(self) -> bool:
        """What the Train button does; False (with the reason shown) when the run cannot start."""
        if self.is_training() or self.tasks.running("model") or self.tasks.running("save"):
            return False
        try:
            cfg = self.config_panel.config()
        except ConfigError as exc:
            self._refuse("Cannot train", f"Cannot train: {exc}", kind="refusal")
            return False
        if self.processes_spin.value() > 1:
            return self._start_processes(cfg, self.processes_spin.value())
        mode = self.model.mode_for(cfg)
        if mode == "new" and (self.model.dirty or self.model.weights is not None) and not self.confirm_discard(
                "Train a new model from the seed and drop the current one?"):
            return False
        self.tasks.cancel("preview")  # the run makes (or reuses) the data itself
        self.tasks.cancel("views")
        prev, weights, controller = self.model.trainer, self.model.weights, self.controller
        data = self._data[1] if self._data is not None and self._data[0] == cfg.dataset else None

        def make(callbacks):
            from core import training  # looked up at call time, so a test can swap core.training.Trainer

            if mode == "continue":
                return prev.continue_with(cfg, callbacks)
            kwargs = {}
            if mode == "from-file":
                kwargs = dict(initial_state=weights.state_dict, optimizer_state=weights.optimizer_state,
                              history=History(weights.history.batch_loss, weights.history.epochs))
            return training.Trainer(cfg, callbacks, threads=1, data=data, cancel=controller.stop_event, **kwargs)

        steps_before = {"continue": prev.steps if prev else 0, "from-file": len(weights.history.batch_loss) if weights else 0}
        self._run = Run(mode=mode, cfg=cfg, steps_before=steps_before.get(mode, 0))
        if mode == "new":
            self._clear_views(keep_data=self.data_plot.shown_key == cfg.dataset)
        self._run_record_for(mode, cfg)
        self._lay_out_run(mode, cfg)
        self.run_status.starting()
        self.predictions.clear("Training… the predictions on the test split appear when the run ends or is stopped.")
        self._set_status("Loading the data and building the model…" if mode != "continue" else "Continuing…", "info")
        self.controller.start(cfg, make, regions=True)
        self._update_controls()
        return True

    def _lay_out_run(self, mode: str, cfg: TrainConfig) -> None:
        """Set the plots' axes for the run now, when the number of batches is already known (the data on
        screen, or the model that continues), rather than again when the run's first events arrive."""
        run = self._run
        if mode == "continue":
            n_train, first_epoch = self.model.trainer.data.X_train.shape[0], self.model.trainer.epochs_completed + 1
        elif mode == "new" and self._data is not None and self._data[0] == cfg.dataset:
            n_train, first_epoch = self._data[2].train_samples, 1
        else:
            return
        per_epoch = batches_per_epoch(n_train, cfg.batch_size, cfg.drop_last)
        if per_epoch > 0:
            self.loss_plot.begin_run(run.steps_before + 1, per_epoch * cfg.epochs, first_epoch, cfg.epochs)
            self.accuracy_plot.begin_run(first_epoch - 1 + cfg.epochs)

    def stop_training(self) -> None:
        if self.is_training():
            self.controller.stop()
            self._set_status("Stopping after the current batch…", "info")

    def set_paused(self, paused: bool) -> None:
        if not self.is_training():
            return
        self.controller.set_paused(paused)
        run = self._run or Run("new", TrainConfig(), 0)
        self._set_status(run.paused_text() if paused else run.progress_text(), "info")
        self._update_controls()

    def reset_model(self) -> None:
        """Forget the weights and curves; the next Train starts fresh weights from the seed."""
        if self.is_training():
            return
        self._drop_model()
        self._set_status("Reset: the next Train builds fresh weights from the seed, so the same settings give the same curve.",
                         "info")

    def new_session(self) -> bool:
        """File > New: the book's settings and no model (asks first when a trained model is unsaved)."""
        if self.model.dirty and not self.confirm_discard("Start a new session and drop the trained, unsaved model?"):
            return False
        self.controller.shutdown()
        self.tasks.cancel()
        self._drop_model()
        self.config_panel.set_config(TrainConfig())
        self.model.forget_path()
        self._update_title()
        self._set_status(idle_text(TrainConfig()), "idle")
        return True

    def show_about(self) -> None:
        self._show_message(QMessageBox.Icon.Information, f"About {APP_NAME}", about_text(self.config_panel.devices()))

    # --- the run ----------------------------------------------------------------------------------

    @Slot(object)
    def _on_progress(self, d: Drained) -> None:
        run = self._run
        if run is None:
            return
        if d.start is not None:
            run.start = d.start
            run.batches_per_epoch = d.start.batches_per_epoch
            self.run_status.started(d.start)
            self.appendix.set_device_text(d.start.device)
            self.loss_plot.begin_run(run.steps_before + 1, d.start.total_steps, d.start.first_epoch, d.start.epochs)
            self.accuracy_plot.begin_run(d.start.first_epoch - 1 + d.start.epochs)
            self._insight_start(run, d)
        if d.points is not None:
            run.points = d.points
            if self.data_plot.shown_key != d.points.key:
                self.data_plot.set_points(d.points)
        self._record_progress(d)
        if d.others or d.points is not None:
            self._insight_progress(run, d)
        if d.regions is not None:
            run.regions = d.regions
        if d.predictions is not None:
            run.predictions = d.predictions
        if d.last_batch is not None:
            self.run_status.batches(run, d.last_batch, len(d.losses), d.samples, show=False)
        # Every update draws the batch loss; what changes less (the status texts, the epoch curves, the
        # accuracy, the insight panels, the decision regions) is drawn a few times a second, one of them
        # per update, so that no turn repaints much (everything is drawn again at the run's end).
        self.loss_plot.refresh(batches=len(d.losses) > 0, epochs=False)
        now = time.monotonic()
        if d.start is not None:
            self._slow_views_at, self._slow_parts = 0.0, []  # the run's first batches are shown at once
        if not self._slow_parts and now - self._slow_views_at >= SLOW_VIEWS_S and (d.last_batch is not None or d.epochs):
            self._slow_parts = ["status", "epochs", "accuracy", "insight", "regions"]
        while self._slow_parts:
            if self._draw_slow_part(run, self._slow_parts.pop(0)):
                break  # one per update
        if not self._slow_parts and self._slow_views_at < now - SLOW_VIEWS_S:
            self._slow_views_at = now  # the next round starts SLOW_VIEWS_S after this one ended

    def _draw_slow_part(self, run: Run, part: str) -> bool:
        """Draw one of the views that change less than the batch loss; False when it had nothing new."""
        if part == "status":
            self.run_status.show_progress()
            if not self.controller.is_paused():
                self._set_status(run.progress_text(), "info")
        elif part == "epochs":
            return self.loss_plot.refresh_epochs()
        elif part == "accuracy":
            return self.accuracy_plot.refresh()
        elif part == "insight":
            return self._insight_flush()
        elif run.regions is not None and run.regions is not self._regions_shown:
            self._regions_shown = run.regions
            self._show_regions(run.regions)
        else:
            return False
        return True

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        if self._run is not None:
            self._run.failed = True
        self._refuse("Training failed", f"Training failed: {message}", status=f"Error: {message}")

    @Slot(object)
    def _on_run_finished(self, result: TrainResult | None) -> None:
        run, self._run = self._run, None
        trainer = self.controller.trainer
        if self._closing:
            return
        if self.controller.processes > 1:
            self._processes_finished(run, result)
            return
        progressed = trainer is not None and run is not None and trainer.steps > run.steps_before
        self.loss_plot.end_run()
        self.accuracy_plot.end_run()
        self.run_status.ended(run)
        self._run_record_ended(result)
        self._insight_flush()
        if run is not None and run.regions is not None and run.regions is not self._regions_shown:
            self._show_regions(run.regions)  # the last ones, if an update had no turn free for them
        self._regions_shown = None
        if result is not None or progressed:
            # A run that trained keeps its model, even one that failed part-way (its curve is on screen).
            views = None
            if run is not None and run.points is not None and run.predictions is not None:
                views = ModelViews(run.points, run.regions, run.predictions)
            self.model.trained(trainer, views, progressed)
            if views is None:
                self._compute_views(trainer)
            else:
                self.predictions.set_predictions(views.predictions)
        else:
            self._show_model(curves=run is not None and run.mode == "new")
        if result is not None:
            self._set_status(run.result_text(result), "info")
            if result.status == "diverged":
                self._show_message(QMessageBox.Icon.Warning, "Training diverged", run.result_text(result))
        elif run is not None and not run.failed:
            self._set_status("Stopped before the first batch: nothing was trained.", "info")
        self._update_controls()
        self._update_title()

    # --- model state ------------------------------------------------------------------------------

    def _config_or_none(self) -> TrainConfig | None:
        try:
            return self.config_panel.config()
        except ConfigError:
            return None

    def _drop_model(self) -> None:
        self.tasks.cancel("views")
        self.tasks.cancel("model")
        self.model.drop()
        self.run_status.idle()
        self._insight_clear()
        self._show_model(curves=True)
        self._update_controls()
        self._update_title()

    def _on_busy(self, busy: bool, label: str) -> None:
        if self.is_training():
            return
        if busy:
            self.run_status.busy(label)
        else:
            self.run_status.not_busy()
        self._update_controls()

    def _update_controls(self) -> None:
        running = self.is_training()
        file_busy = self.tasks.running("model") or self.tasks.running("save")
        idle = not running and not file_busy
        self.config_panel.set_running(running)
        self.train_button.setEnabled(idle)
        self.pause_button.setEnabled(running)
        self.stop_button.setEnabled(running)
        self.reset_button.setEnabled(idle and self.has_model())
        self.pause_button.setText("Resume" if running and self.controller.is_paused() else "Pause")
        self.processes_spin.setEnabled(not running)
        n = self.processes_spin.value()
        self.command_label.setVisible(n > 1)
        if n > 1:
            self.command_label.setText(self._command_text())
        a = self.actions_
        for action in (a.new, a.open):
            action.setEnabled(idle)
        for action in (a.save, a.save_as, a.export):
            action.setEnabled(idle and self.has_model())
        self.recent_menu.setEnabled(idle)
        cfg = self._config_or_none()
        self.predictions.evaluate_button.setEnabled(
            idle and self.model.weights is not None and cfg is not None and not self.model.is_bound_to(cfg))
        mode = "new" if cfg is None else self.model.mode_for(cfg)
        if mode in ("continue", "from-file"):
            self.train_button.setText("Continue training")
            self.train_button.setToolTip("Go on training the current model for the number of epochs set, from its weights and "
                                         "optimizer state (Ctrl+Return). Reset to start again from fresh weights.")
        elif self.has_model():
            self.train_button.setText("Train (new model)")
            self.train_button.setToolTip("The data or the layers changed, so the current model cannot go on: Train builds a "
                                         "new model from the seed and drops the current one (Ctrl+Return).")
        else:
            self.train_button.setText("Train")
            self.train_button.setToolTip("Train a new model with these settings, starting from the seed (Ctrl+Return).")
        if not running:
            self.run_status.set_device(self.config_panel.device_combo.currentData())

    def _update_title(self) -> None:
        name = os.path.basename(self.model.path) if self.model.path else "untitled"
        self.setWindowTitle(f"{name}{'*' if self.model.dirty else ''} — {APP_NAME}")

    # --- messages ---------------------------------------------------------------------------------

    def _set_status(self, text: str, kind: str = "info") -> None:
        self.status_label.setText(text)
        self._status_kind = kind

    def _refuse(self, title: str, text: str, kind: str = "info", status: str | None = None) -> None:
        self._set_status(status or text, kind)
        self._show_message(QMessageBox.Icon.Critical, title, text)

    def show_error(self, title: str, text: str) -> None:
        """An error message box, its text also in the status line."""
        self._refuse(title, text, status=f"Error: {text}")

    def _show_message(self, icon: QMessageBox.Icon, title: str, text: str) -> None:
        """A non-blocking message box (open(), not exec()), so a test or a running plot never waits on it."""
        self.last_message = (title, text)
        box = self._message_box
        if box is None:
            box = QMessageBox(self)
            box.setObjectName("messageBox")
            box.setStandardButtons(QMessageBox.StandardButton.Ok)
            self._message_box = box
        box.setIcon(icon)
        box.setWindowTitle(title)
        box.setText(text)
        box.open()

    def _ask_discard(self, question: str) -> bool:
        # Without a screen (tests, CI) nobody could answer a modal question: carry on.
        if QGuiApplication.platformName() in ("offscreen", "minimal"):
            return True
        buttons = QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
        answer = QMessageBox.question(self, APP_NAME, question, buttons, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Discard

    # --- settings and closing ---------------------------------------------------------------------

    def _restore_session(self) -> None:
        geometry = self.settings.value("geometry")
        if isinstance(geometry, (QByteArray, bytes)):
            self.restoreGeometry(geometry)
        text = self.settings.value("lastConfig")
        if text is None:
            return
        # An old, hand-edited or damaged value: what is valid is kept, the rest takes the book's
        # defaults, and the status line says so once.
        try:
            data = json.loads(text) if isinstance(text, str) and len(text) <= MAX_SAVED_CONFIG_CHARS else None
        except ValueError:
            data = None
        cfg, dropped = salvage_config(data)
        if not self._torch_ready and self.config_panel.device_combo.findData(cfg.device) < 0:
            self._pending_device = cfg.device  # chosen again once the real device list is known
        self.config_panel.set_config(cfg)
        if dropped:
            shown = ", ".join(dropped[:6]) + (f" and {len(dropped) - 6} more" if len(dropped) > 6 else "")
            self._restore_note = f"The saved settings could not all be read; these start from the defaults: {shown}."

    def save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        cfg = self._config_or_none()
        if cfg is not None:
            self.settings.setValue("lastConfig", cfg.to_json())
        self.settings.sync()

    def shutdown(self) -> None:
        """Stop the run and every worker and wait for them (tests; the app waits after its event loop)."""
        self.controller.shutdown()
        self.tasks.shutdown()
        self.appendix.shutdown()
        if self._gc_held:
            self._gc_held = False
            gc_timer.release()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self.model.dirty and not self._closing and not self.confirm_discard("Quit and drop the trained, unsaved model?"):
            event.ignore()
            return
        # The window goes at once: the run and the workers are told to stop. A training loop sees that
        # within a batch, so the run is waited for a moment; one still making its data (a second or two
        # for millions of samples) is waited for by the app after its event loop has ended, not here.
        self._closing = True
        self.tasks.cancel()
        self.appendix.runner.cancel()
        self.controller.shutdown(timeout_ms=CLOSE_WAIT_MS)
        self._view_timer.stop()
        self.save_settings()
        if self._message_box is not None:
            self._message_box.close()
        event.accept()
