"""The main window: composition only. It makes the state, the widgets and the parts, and hands each part what it uses.

The parts (app.window.*) own their state and talk through the state's announcements and Qt signals:
the controls follow the model, the form and the run (controls.py); the views follow the model and the
settings (views.py); files (files.py), runs side by side (runs.py), inside the layers (insight.py),
the run itself (training.py) and what the window says (messages.py). The Qt-free state is app.state.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from PySide6.QtCore import QEvent, QSettings, QTimer
from PySide6.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QMainWindow, QMessageBox, QWidget

from app.panels.config_panel import ConfigPanel
from app.run import gc_timer
from app.run.controller import TrainingController
from app.run.tasks import TaskRunner
from app.run.warmup import prepare_torch
from app.state.data_cache import DataCache
from app.state.form import FormState
from app.state.model_state import ModelState
from app.state.run_progress import IDLE_TEXT, idle_text
from app.window import layout
from app.window.about import APP_NAME, about_text
from app.window.controls import Controls
from app.window.files import FileActions
from app.window.insight import InsightViews
from app.window.messages import Messages
from app.window.recent_files import RecentFiles
from app.window.runs import RunViews
from app.window.session import make_settings, open_settings, restore_session
from app.window.training import Training
from app.window.views import ViewSync
from core.config import TrainConfig
from core.devices import DeviceInfo, list_devices

if TYPE_CHECKING:
    from core.training import Trainer

# torch, and the engine modules that need it, are imported where used: with `torch_later`, the window
# is built and shown before torch has loaded.

# How long closing the window waits for a run to stop (a training loop stops within a batch).
CLOSE_WAIT_MS = 250
__all__ = ["IDLE_TEXT", "MainWindow", "make_settings"]


class MainWindow(QMainWindow):
    """Torch Playground's window; its defaults are the book's run, ready to train.

    Parameters
    ----------
    settings : a QSettings, an .ini path, or None for $TORCH_PLAYGROUND_SETTINGS / the user's settings.
    devices : the devices to offer (a list of DeviceInfo or a function returning one); None asks torch.
    restore_session : restore the last window geometry and settings (the app does; tests start clean).
    torch_later : build the window without torch, to show it sooner (the app does): the device list
        offers cpu and the data preview waits until `torch_ready()` is called, once torch has loaded.

    A hook tests may replace: `confirm_discard(question) -> bool` (asked before a trained, unsaved
    model is dropped).
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
        self.settings, settings_problem = open_settings(settings)
        self._devices_arg = devices
        self._torch_ready = not torch_later
        self._pending_device: str | None = None  # a restored device choice the early device list lacks
        self._painted = False
        self._after_paint: list[Callable[[], None]] = []
        self.installEventFilter(self)
        self.confirm_discard: Callable[[str], bool] = lambda question: self.messages.ask_discard(question)
        self._closing = False
        self._restore_note = settings_problem  # what could not be restored from the saved settings, said once

        # The state, without Qt: each announces its changes.
        self.model = ModelState()
        self.form = FormState()
        self.data = DataCache()
        self.tasks = TaskRunner(self)
        self.controller = TrainingController(self)

        if not self._torch_ready and devices is None:
            devices = [DeviceInfo("cpu", "cpu", True)]  # the real list needs torch: torch_ready() brings it
        ui = self.ui = layout.build(self, ConfigPanel(devices, form=self.form), torch_later=not self._torch_ready)
        for name in layout.PUBLIC:
            setattr(self, name, getattr(ui, name))
        self._splitters = ui.splitters
        self.progress_bar = ui.run_status.progress_bar

        # The parts, each given what it uses.
        self.messages = Messages(self, ui.status_label)
        self.views = ViewSync(ui, self.model, self.form, self.data, self.tasks, self.controller, self.messages,
                              show_history=lambda history: self.run_views.show_history(history), parent=self)
        self.run_views = RunViews(ui, self.model, self.controller, self.tasks, self.messages, parent=self)
        self.runs = self.run_views.runs
        self.insight = InsightViews(ui, on_warning=lambda run: self.training.warn(run))
        self.training = Training(ui, self.model, self.form, self.data, self.controller, self.tasks, self.messages,
                                 self.views, self.run_views, self.insight, confirm_discard=self._confirm,
                                 open_run_model=lambda path: self.files.load_model(path, from_run=True), parent=self)
        self.actions_ = layout.build_menus(self, self)
        self.recent_menu = self.actions_.recent_menu
        self.recent = RecentFiles(self.settings, self.recent_menu, lambda path: self.files.open_recent(path))
        self.files = FileActions(self, self.model, self.form, self.data, self.tasks, self.controller, self.views,
                                 self.messages, self.recent, set_config=ui.config_panel.set_config,
                                 confirm_discard=self._confirm)
        self.controls = Controls(self, ui, self.actions_, self.model, self.form, self.controller, self.tasks,
                                 command_text=self.training.command_text)

        self.train_button.clicked.connect(self.start_training)
        self.pause_button.clicked.connect(lambda: self.set_paused(not self.controller.is_paused()))
        self.copy_command_button.clicked.connect(self.training.copy_command)
        self.stop_button.clicked.connect(self.stop_training)
        self.reset_button.clicked.connect(self.reset_model)
        self.predictions.predictRequested.connect(self.views.predict_typed)
        self.predictions.evaluateRequested.connect(self.evaluate)
        self.tasks.busyChanged.connect(self._on_busy)
        self.setAcceptDrops(True)
        self.resize(1280, 800)
        if restore_session:
            self._restore_session()
        self.controls.refresh()
        self.messages.status(idle_text(self.form.config), "idle")
        if self._restore_note:
            self.messages.status(self._restore_note, "info")
        self.views.torch_ready = self._torch_ready
        if self._torch_ready:
            # torch is here already (tests, create_window): pay its one-time lazy imports now, before the
            # window is shown, rather than in a worker later, where imports hold the interpreter lock
            # for up to 150 ms at a time and the GUI would stall (the app does this behind the window).
            prepare_torch()
            self.views.refresh()
        else:
            self.data_plot.show_message("loading PyTorch…")

    def _confirm(self, question: str) -> bool:
        return self.confirm_discard(question)  # looked up at call time: tests replace the hook

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
        self._torch_ready = self.views.torch_ready = True
        if devices is None:
            devices = self._devices_arg() if callable(self._devices_arg) else self._devices_arg
        self.config_panel.set_devices(devices if devices is not None else list_devices(), prefer=self._pending_device)
        self._pending_device = None
        if self.data_plot.message.toPlainText() == "loading PyTorch…":
            self.data_plot.show_message("")
        self.appendix.torch_ready()
        self.controls.refresh()
        self.views.refresh()

    # --- public API -------------------------------------------------------------------------------

    @property
    def trainer(self) -> Trainer | None:
        """The current model's trainer (None when there is none, it is not bound to data, or a run uses it)."""
        return self.model.trainer

    @property
    def last_message(self) -> tuple[str, str] | None:
        """(title, text) of the last message box."""
        return self.messages.last

    @property
    def _message_box(self) -> QMessageBox | None:
        return self.messages.box

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
        cfg = self.form.config
        return "new" if cfg is None else self.model.mode_for(cfg)

    def start_training(self) -> bool:
        """What the Train button does; False (with the reason shown) when the run cannot start."""
        return self.training.start()

    def stop_training(self) -> None:
        self.training.stop()

    def set_paused(self, paused: bool) -> None:
        self.training.set_paused(paused)

    def reset_model(self) -> None:
        """Forget the weights and curves; the next Train starts fresh weights from the seed."""
        self.training.reset()

    def new_session(self) -> bool:
        """File > New: the book's settings and no model (asks first when a trained model is unsaved)."""
        if self.model.dirty and not self.confirm_discard("Start a new session and drop the trained, unsaved model?"):
            return False
        self.controller.shutdown()
        self.tasks.cancel()
        self.training.drop_model()
        self.config_panel.set_config(TrainConfig())
        self.model.forget_path()
        self.messages.status(idle_text(TrainConfig()), "idle")
        return True

    def load_model(self, path: str | os.PathLike) -> bool:
        """Open a model file (read and vetted off the GUI thread, while the event loop runs); False (nothing
        raised, state unchanged, reason shown) when it is refused."""
        return self.files.load_model(path)

    def open_file(self, path: str | os.PathLike, from_run: bool = False):
        """Start opening a model file (asynchronous); returns the task, None when refused at once."""
        return self.files.open_file(path, from_run)

    def save_model(self, path: str | os.PathLike) -> bool:
        return self.files.save_model(path)

    def export_weights(self, path: str | os.PathLike) -> bool:
        return self.files.export_weights(path)

    def evaluate(self) -> bool:
        return self.files.evaluate()

    def open_recent(self, path: str) -> bool:
        return self.files.open_recent(path)

    def export_curves(self, path: str | os.PathLike) -> bool:
        return self.run_views.export_curves(path)

    def export_plot(self, which: str, path: str | os.PathLike) -> bool:
        return self.run_views.export_plot(which, path)

    def remove_run(self, run_id: int) -> None:
        self.run_views.remove_run(run_id)

    def restore_run_settings(self, run_id: int) -> None:
        self.run_views.restore_run_settings(run_id)

    def show_about(self) -> None:
        self._show_message(QMessageBox.Icon.Information, f"About {APP_NAME}", about_text(self.config_panel.devices()))

    def show_error(self, title: str, text: str) -> None:
        """An error message box, its text also in the status line."""
        self.messages.error(title, text)

    def _show_message(self, icon: QMessageBox.Icon, title: str, text: str) -> None:
        self.messages.show(icon, title, text)

    def _set_status(self, text: str, kind: str = "info") -> None:
        self.messages.status(text, kind)

    # The File menu's slots (layout.build_menus connects them).
    def on_new(self) -> None:
        self.new_session()

    def on_open(self) -> None:
        self.files.on_open()

    def on_save(self) -> None:
        self.files.on_save()

    def on_save_as(self) -> None:
        self.files.on_save_as()

    def on_export(self) -> None:
        self.files.on_export()

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        self.files.drag_enter(event)

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        self.files.drop(event)

    def _on_busy(self, busy: bool, label: str) -> None:
        if self.is_training():
            return
        if busy:
            self.run_status.busy(label)
        else:
            self.run_status.not_busy()

    # --- settings and closing ---------------------------------------------------------------------

    def _restore_session(self) -> None:
        self._pending_device, note = restore_session(self, self.settings, self.config_panel, self._torch_ready)
        self._restore_note = " ".join(text for text in (self._restore_note, note) if text)

    def save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        if self.form.config is not None:
            self.settings.setValue("lastConfig", self.form.config.to_json())
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
        self._closing = self.training.closing = self.views.closing = self.controls.closing = True
        self.tasks.cancel()
        self.appendix.runner.cancel()
        self.controller.shutdown(timeout_ms=CLOSE_WAIT_MS)
        self.views.stop()
        self.save_settings()
        self.messages.close()
        event.accept()
