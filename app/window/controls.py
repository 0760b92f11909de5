"""The window's buttons, menus and title follow the state: the model, the form's settings, the run and the tasks.

Nothing calls for a refresh by hand: each of those announces its changes (ModelState.changed,
FormState.changed, TrainingController.stateChanged, TaskRunner.busyChanged) and `refresh` runs then.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QPushButton, QWidget

from app.run.controller import TrainingController
from app.run.tasks import TaskRunner
from app.state.form import FormState
from app.state.model_state import ModelState
from app.window.about import APP_NAME

TRAIN_SHORTCUT = QKeySequence("Ctrl+Return")

TRAIN_TIPS = {
    "continue": "Go on training the current model for the number of epochs set, from its weights and optimizer state "
                "(Ctrl+Return). Reset to start again from fresh weights.",
    "replace": "The data or the layers changed, so the current model cannot go on: Train builds a new model from the "
               "seed and drops the current one (Ctrl+Return).",
    "new": "Train a new model with these settings, starting from the seed (Ctrl+Return).",
}


def set_train_text(button: QPushButton, text: str, tip: str) -> None:
    """The Train button's text and tooltip, its shortcut kept: QAbstractButton.setText clears a
    shortcut (it looks for a mnemonic in the new text), and Ctrl+Return trained once, then never again."""
    if button.text() != text:
        button.setText(text)
    button.setShortcut(TRAIN_SHORTCUT)
    button.setToolTip(tip)


class Controls:
    """Enables, names and titles what the window offers, from the state alone."""

    def __init__(self, window: QWidget, ui, actions, model: ModelState, form: FormState,
                 controller: TrainingController, tasks: TaskRunner, command_text: Callable[[], str]):
        self._window = window
        self._ui = ui
        self._actions = actions
        self._model = model
        self._form = form
        self._controller = controller
        self._tasks = tasks
        self._command_text = command_text
        self.closing = False
        model.changed.connect(self._on_model_changed)
        form.changed.connect(self._on_form_changed)
        controller.stateChanged.connect(self.refresh)
        tasks.changed.connect(self.refresh)
        ui.processes_spin.valueChanged.connect(lambda _n: self.refresh())
        set_train_text(ui.train_button, "Train", TRAIN_TIPS["new"])

    def _on_model_changed(self, what: str) -> None:
        if what == "opened" and not self._controller.is_running():
            self._ui.run_status.idle()  # its numbers were another run's, not the opened file's
        self.refresh()

    def _on_form_changed(self) -> None:
        cfg = self._form.config
        if (cfg is not None and self._model.has_model() and self._model.mode_for(cfg) == "new"
                and not self._controller.is_running() and not self._tasks.running()):
            # The status bar's epochs and batches were the current model's: settings it cannot go on with
            # (another data set, other layers) make them stale.
            self._ui.run_status.idle()
        self.refresh()

    def file_busy(self) -> bool:
        return self._tasks.running("model") or self._tasks.running("save")

    def refresh(self) -> None:
        if self.closing:
            return
        ui, a, model = self._ui, self._actions, self._model
        running = self._controller.is_running()
        idle = not running and not self.file_busy()
        has_model = model.has_model()
        ui.config_panel.set_running(running)
        cfg = self._form.config
        ui.train_button.setEnabled(idle and self._form.data_problem() is None)
        ui.pause_button.setEnabled(running)
        ui.stop_button.setEnabled(running)
        ui.reset_button.setEnabled(idle and has_model)
        ui.pause_button.setText("Resume" if running and self._controller.is_paused() else "Pause")
        ui.processes_spin.setEnabled(not running)
        n = ui.processes_spin.value()
        ui.command_label.setVisible(n > 1)
        if n > 1:
            ui.command_label.setText(self._command_text())
        for action in (a.new, a.open):
            action.setEnabled(idle)
        for action in (a.save, a.save_as, a.export):
            action.setEnabled(idle and has_model)
        a.recent_menu.setEnabled(idle)
        ui.predictions.evaluate_button.setEnabled(
            idle and model.weights is not None and cfg is not None and not model.is_bound_to(cfg))
        mode = "new" if cfg is None else model.mode_for(cfg)
        if mode in ("continue", "from-file"):
            set_train_text(ui.train_button, "Continue training", TRAIN_TIPS["continue"])
        elif has_model:
            set_train_text(ui.train_button, "Train (new model)", TRAIN_TIPS["replace"])
        else:
            set_train_text(ui.train_button, "Train", TRAIN_TIPS["new"])
        if not running:
            ui.run_status.set_device(ui.config_panel.device_combo.currentData())
        name = os.path.basename(model.path) if model.path else "untitled"
        self._window.setWindowTitle(f"{name}{'*' if model.dirty else ''} — {APP_NAME}")
