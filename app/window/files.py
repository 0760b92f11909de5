"""The window's File side: open, save and export on worker threads, the menus' dialogs, recent files, drag and drop.

A part of the window: it takes the model state, the form, the tasks, the views and the messages it
uses; the work itself is in app.state.model_state, without Qt.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QUrl
from PySide6.QtWidgets import QFileDialog, QWidget

from app.run.controller import TrainingController
from app.run.tasks import TaskRunner
from app.state.data_cache import DataCache
from app.state.form import FormState
from app.state.model_state import ModelState, Opened, describe_opened, open_model
from app.window import views as window_views
from app.window.messages import Messages
from app.window.recent_files import RecentFiles
from app.window.views import ViewSync
from core.config import TrainConfig

OPEN_FILTER = ("Model files (*.pt *.pth *.safetensors);;PyTorch model files (*.pt *.pth);;"
               "safetensors files (*.safetensors);;All files (*)")
SAVE_FILTER = "PyTorch model files (*.pt *.pth);;All files (*)"  # the app's file keeps curves and optimizer state
EXPORT_FILTER = "PyTorch state_dict (*.pth *.pt);;safetensors (*.safetensors);;All files (*)"
MODEL_SUFFIXES = (".pt", ".pth", ".safetensors")


class FileActions(QObject):
    """Open, save, export and evaluate; `load_model`/`save_model` wait with the event loop running."""

    def __init__(self, window: QWidget, model: ModelState, form: FormState, data: DataCache, tasks: TaskRunner,
                 controller: TrainingController, views: ViewSync, messages: Messages, recent: RecentFiles,
                 set_config: Callable[[TrainConfig], list[str]], confirm_discard: Callable[[str], bool]):
        super().__init__(window)
        self._window = window  # the dialogs' parent
        self.model = model
        self._form = form
        self._data = data
        self.tasks = tasks
        self._controller = controller
        self._views = views
        self._messages = messages
        self.recent = recent
        self._set_config = set_config
        self._confirm_discard = confirm_discard

    def load_model(self, path: str | os.PathLike, from_run: bool = False) -> bool:
        """Open a model file (read and vetted off the GUI thread, while the event loop runs); False (nothing
        raised, state unchanged, reason shown) when it is refused."""
        return self._wait(self.open_file(path, from_run))

    def open_file(self, path: str | os.PathLike, from_run: bool = False):
        """Start opening a model file; the window takes it when it has been read. Returns the task (None if refused).

        `from_run`: the model a torchrun run saved in its own folder: it is taken as trained and unsaved."""
        path = os.fspath(path)
        name = os.path.basename(path)
        if self._controller.is_running():
            self._messages.refuse("Cannot open", f"Cannot open {name}: stop the training first.")
            return None
        form_cfg = self._form.config or TrainConfig()
        data = self._data.split(form_cfg.dataset)
        self.tasks.cancel("views")
        return self.tasks.submit(
            lambda cancel: open_model(path, form_cfg, cancel, data), kind="model", label=f"Opening {name}…",
            on_done=lambda opened: self._opened(opened, path, from_run),
            on_error=lambda exc: self._messages.file_failed("open", path, exc),
            deadline_s=window_views.OPEN_DEADLINE_S,
        )

    def save_model(self, path: str | os.PathLike) -> bool:
        """Save the current model (weights, settings, curves, optimizer state); False with the reason shown."""
        return self._file_job(os.fspath(path), "save")

    def export_weights(self, path: str | os.PathLike) -> bool:
        """Write the bare state_dict (what the book's torch.save(model.state_dict(), path) writes)."""
        return self._file_job(os.fspath(path), "export")

    def _file_job(self, path: str, what: str) -> bool:
        name = os.path.basename(path)
        if self._controller.is_running():
            self._messages.refuse(f"Cannot {what}", f"Cannot {what} {name}: stop the training first.")
            return False
        if not self.model.has_model():
            self._messages.refuse(f"Nothing to {what}", f"There is no model to {what} yet: train one or open a model file first.")
            return False
        job = self.model.save_job(path) if what == "save" else self.model.export_job(path)
        return self._wait(self.tasks.submit(job, kind="save", label=f"Writing {name}…",
                                            on_done=lambda p: self._written(p, what),
                                            on_error=lambda exc: self._messages.file_failed(what, path, exc)))

    def evaluate(self) -> bool:
        """Bind weights opened from a file to the current data set (when their shapes fit) and predict."""
        if self.model.weights is None or self._controller.is_running():
            return self.model.trainer is not None
        cfg = self._form.config
        if cfg is None:
            self._messages.refuse("Cannot evaluate", f"Cannot evaluate: {self._form.error}")
            return False
        weights = self.model.weights
        task = self._views.bind(cfg, explain=True, on_error=lambda exc: self._messages.file_failed("evaluate", weights.path, exc))
        return self._wait(task) and self.model.is_bound_to(cfg)

    def _opened(self, opened: Opened, path: str, from_run: bool = False) -> None:
        notes = self._set_config(opened.weights.config)
        self.model.opened(opened, path)
        if from_run:  # trained here, in a temporary folder: nothing is saved yet
            self.model.forget_path()
            self.model.mark_unsaved()
            self._views.show_model(curves=True)
            return
        self._views.opened(opened.weights, opened.bound.cfg.dataset)
        self._views.show_model(curves=True)
        if opened.bound.trainer is None:
            self._views.show_data(opened.weights.config.dataset)
        self.recent.add(path)
        text = describe_opened(opened, os.path.basename(path))
        if notes:
            text += " The form: " + "; ".join(notes) + "."
        self._messages.status(text, "info")

    def _written(self, path: str, what: str) -> None:
        if what == "save":
            self.model.saved(path)
            self.recent.add(path)
            self._messages.status(f"Saved the model to {path}.", "info")
        else:
            self._messages.status(f"Exported the weights (a bare state_dict) to {path}.", "info")

    def _wait(self, task) -> bool:
        """Wait for a task with the event loop running; True when it ended without an error."""
        return self.tasks.wait_ok(task)

    def _start_dir(self) -> str:
        if self.model.path:
            return os.path.dirname(self.model.path)
        recent = self.recent.files()
        return os.path.dirname(recent[0]) if recent else str(Path.home())

    def on_open(self) -> None:
        if self.model.dirty and not self._confirm_discard("Open another model and drop the trained, unsaved one?"):
            return
        path, _ = QFileDialog.getOpenFileName(self._window, "Open model", self._start_dir(), OPEN_FILTER)
        if path:
            self.open_file(path)

    def open_recent(self, path: str) -> bool:
        if self.model.dirty and not self._confirm_discard("Open another model and drop the trained, unsaved one?"):
            return False
        return self.load_model(path)

    def on_save(self) -> None:
        if self.model.path and self.model.has_model():
            self.save_model(self.model.path)
        else:
            self.on_save_as()

    def on_save_as(self) -> None:
        default = self.model.path or os.path.join(self._start_dir(), "model.pt")
        path, _ = QFileDialog.getSaveFileName(self._window, "Save model", default, SAVE_FILTER)
        if path:
            self.save_model(path if path.lower().endswith((".pt", ".pth")) else path + ".pt")

    def on_export(self) -> None:
        default = os.path.join(self._start_dir(), "model.pth")
        path, _ = QFileDialog.getSaveFileName(self._window, "Export weights (state_dict)", default, EXPORT_FILTER)
        if path:
            self.export_weights(path)

    def drag_enter(self, event) -> None:
        if _model_paths(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def drop(self, event) -> None:
        paths = _model_paths(event.mimeData().urls())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_recent(paths[0])


def _model_paths(urls: list[QUrl]) -> list[str]:
    return [u.toLocalFile() for u in urls if u.isLocalFile() and u.toLocalFile().lower().endswith(MODEL_SUFFIXES)]
