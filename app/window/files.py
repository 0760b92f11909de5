"""The window's File side: open, save and export on worker threads, the menus' dialogs, recent files, drag and drop.

A mixin of MainWindow (it uses the window's model state, tasks, config panel and views); the work
itself is in app/model_state.py, without Qt.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QFileDialog

from app.state.model_state import USER_ERRORS, Opened, describe_opened, open_model
from core.config import ConfigError, TrainConfig
from core.errors import ModelFileError

OPEN_FILTER = ("Model files (*.pt *.pth *.safetensors);;PyTorch model files (*.pt *.pth);;"
               "safetensors files (*.safetensors);;All files (*)")
SAVE_FILTER = "PyTorch model files (*.pt *.pth);;All files (*)"  # the app's file keeps curves and optimizer state
EXPORT_FILTER = "PyTorch state_dict (*.pth *.pt);;safetensors (*.safetensors);;All files (*)"
MODEL_SUFFIXES = (".pt", ".pth", ".safetensors")
# Opening (and binding to data) a file is given up after this long: the largest file the app opens
# (2 GB) reads in a few seconds from a local disk; a read that never ends (a hung network mount)
# must not leave the window waiting. Looked up at call time (tests shorten it).
OPEN_DEADLINE_S = 60.0


class FileActions:
    """Open, save, export and evaluate for MainWindow; `load_model`/`save_model` wait with the event loop running."""

    def load_model(self, path: str | os.PathLike) -> bool:
        """Open a model file (read and vetted off the GUI thread, while the event loop runs); False (nothing
        raised, state unchanged, reason shown) when it is refused."""
        return self._wait(self.open_file(path))

    def open_file(self, path: str | os.PathLike, from_run: bool = False):
        """Start opening a model file; the window takes it when it has been read. Returns the task (None if refused).

        `from_run`: the model a torchrun run saved in its own folder: it is taken as trained and unsaved."""
        path = os.fspath(path)
        name = os.path.basename(path)
        if self.is_training():
            self._refuse("Cannot open", f"Cannot open {name}: stop the training first.")
            return None
        form_cfg = self._config_or_none() or TrainConfig()
        data = self._data[1] if self._data is not None and self._data[0] == form_cfg.dataset else None
        self.tasks.cancel("views")
        return self.tasks.submit(
            lambda cancel: open_model(path, form_cfg, cancel, data), kind="model", label=f"Opening {name}…",
            on_done=lambda opened: self._opened(opened, path, from_run), on_error=lambda exc: self._failed_file("open", path, exc),
            deadline_s=OPEN_DEADLINE_S,
        )

    def save_model(self, path: str | os.PathLike) -> bool:
        """Save the current model (weights, settings, curves, optimizer state); False with the reason shown."""
        return self._file_job(os.fspath(path), "save")

    def export_weights(self, path: str | os.PathLike) -> bool:
        """Write the bare state_dict (what the book's torch.save(model.state_dict(), path) writes)."""
        return self._file_job(os.fspath(path), "export")

    def _file_job(self, path: str, what: str) -> bool:
        name = os.path.basename(path)
        if self.is_training():
            self._refuse(f"Cannot {what}", f"Cannot {what} {name}: stop the training first.")
            return False
        if not self.has_model():
            self._refuse(f"Nothing to {what}", f"There is no model to {what} yet: train one or open a model file first.")
            return False
        job = self.model.save_job(path) if what == "save" else self.model.export_job(path)
        return self._wait(self.tasks.submit(job, kind="save", label=f"Writing {name}…",
                                            on_done=lambda p: self._written(p, what),
                                            on_error=lambda exc: self._failed_file(what, path, exc)))

    def evaluate(self) -> bool:
        """Bind weights opened from a file to the current data set (when their shapes fit) and predict."""
        if self.model.weights is None or self.is_training():
            return self.model.trainer is not None
        try:
            cfg = self.config_panel.config()
        except ConfigError as exc:
            self._refuse("Cannot evaluate", f"Cannot evaluate: {exc}")
            return False
        return self._wait(self._bind(cfg, explain=True)) and self.model.is_bound_to(cfg)

    def _opened(self, opened: Opened, path: str, from_run: bool = False) -> None:
        notes = self.config_panel.set_config(opened.weights.config)
        self.model.opened(opened, path)
        if from_run:  # trained here, in a temporary folder: nothing is saved yet
            self.model.forget_path()
            self.model.dirty = True
            self._show_model(curves=True)
            self._update_title()
            self._update_controls()
            return
        self._bind_tried = (opened.weights, opened.bound.cfg.dataset)
        self._show_model(curves=True)
        if opened.bound.trainer is None:
            self._show_data(opened.weights.config.dataset)
        self.recent.add(path)
        text = describe_opened(opened, os.path.basename(path))
        if notes:
            text += " The form: " + "; ".join(notes) + "."
        self._set_status(text, "info")
        self._update_title()
        self._update_controls()

    def _written(self, path: str, what: str) -> None:
        if what == "save":
            self.model.saved(path)
            self.recent.add(path)
            self._set_status(f"Saved the model to {path}.", "info")
        else:
            self._set_status(f"Exported the weights (a bare state_dict) to {path}.", "info")
        self._update_title()

    def _failed_file(self, what: str, path: str, exc: BaseException) -> None:
        reason = str(exc) or type(exc).__name__
        if not isinstance(exc, (*USER_ERRORS, ModelFileError)):
            reason = f"{type(exc).__name__}: {reason}"
        text = reason[:1].upper() + reason[1:] if reason.lower().startswith("cannot") else f"Cannot {what} {path}: {reason}"
        self._refuse(f"Cannot {what}", text)

    def _wait(self, task) -> bool:
        """Wait for a task with the event loop running; True when it ended without an error."""
        if task is None:
            return False
        self._update_controls()
        self.tasks.wait(task)
        self._update_controls()
        return task.done.is_set() and task.error is None and not task.cancel.is_set()

    def _start_dir(self) -> str:
        if self.model.path:
            return os.path.dirname(self.model.path)
        recent = self.recent.files()
        return os.path.dirname(recent[0]) if recent else str(Path.home())

    def on_new(self) -> None:
        self.new_session()

    def on_open(self) -> None:
        if self.model.dirty and not self.confirm_discard("Open another model and drop the trained, unsaved one?"):
            return
        path, _ = QFileDialog.getOpenFileName(self, "Open model", self._start_dir(), OPEN_FILTER)
        if path:
            self.open_file(path)

    def open_recent(self, path: str) -> bool:
        if self.model.dirty and not self.confirm_discard("Open another model and drop the trained, unsaved one?"):
            return False
        return self.load_model(path)

    def on_save(self) -> None:
        if self.model.path and self.has_model():
            self.save_model(self.model.path)
        else:
            self.on_save_as()

    def on_save_as(self) -> None:
        default = self.model.path or os.path.join(self._start_dir(), "model.pt")
        path, _ = QFileDialog.getSaveFileName(self, "Save model", default, SAVE_FILTER)
        if path:
            self.save_model(path if path.lower().endswith((".pt", ".pth")) else path + ".pt")

    def on_export(self) -> None:
        default = os.path.join(self._start_dir(), "model.pth")
        path, _ = QFileDialog.getSaveFileName(self, "Export weights (state_dict)", default, EXPORT_FILTER)
        if path:
            self.export_weights(path)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if _model_paths(event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        paths = _model_paths(event.mimeData().urls())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_recent(paths[0])


def _model_paths(urls: list[QUrl]) -> list[str]:
    return [u.toLocalFile() for u in urls if u.isLocalFile() and u.toLocalFile().lower().endswith(MODEL_SUFFIXES)]
