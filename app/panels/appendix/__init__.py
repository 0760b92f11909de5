"""The Appendix A panels the plots do not show: autograd, the DataLoader's batches, the model, the code, as one tab widget.

Importing this package imports no torch: the window is built before torch loads. The panels that need
torch wait for it (`torch_ready()`, or on their own once another thread has finished importing it).
"""

from __future__ import annotations

from PySide6.QtCore import QTimer, Signal
from PySide6.QtWidgets import QTabWidget, QWidget

from app.panels.appendix._common import DataSource, torch_loaded
from app.panels.appendix.autograd import AutogradPanel
from app.panels.appendix.batches import BatchesPanel
from app.panels.appendix.code import CodePanel
from app.panels.appendix.model import ModelPanel
from app.run.tasks import TaskRunner
from core.config import TrainConfig

__all__ = ["AppendixTabs", "AutogradPanel", "BatchesPanel", "CodePanel", "ModelPanel"]

# How often to look whether torch has finished loading, when the window has not said so (torch_ready()).
TORCH_POLL_MS = 200


class AppendixTabs(QTabWidget):
    """Tabs "Autograd", "Batches", "Model" and "Code" for the current settings.

    The window calls `set_config(cfg)` whenever the settings change (None when they are not valid),
    `set_device_text(text)` when it knows the device a run uses, and `shutdown()` when it closes (it
    waits for the data and batch threads). `torch_later=True` (default: whether torch has not finished
    loading yet) builds the tabs without torch; `torch_ready()` then lets them compute, and they also
    notice on their own once torch has loaded. `busyChanged(bool, str)` says when a task of theirs
    has run for more than a moment (and its label), and when none is left.
    """

    busyChanged = Signal(bool, str)

    def __init__(self, parent: QWidget | None = None, *, torch_later: bool | None = None):
        super().__init__(parent)
        self.setObjectName("appendixTabs")
        self.setAccessibleName("Appendix A")
        self.setDocumentMode(True)
        ready = torch_loaded() if torch_later is None else not torch_later
        self._torch_ready = ready
        self.runner = TaskRunner(self)
        self.runner.busyChanged.connect(self.busyChanged)
        self.source = DataSource(self.runner)
        self.autograd = AutogradPanel(torch_ready=ready)
        self.batches = BatchesPanel(self.runner, self.source, torch_ready=ready)
        self.model = ModelPanel(self.runner, self.source, torch_ready=ready)
        self.code = CodePanel()
        tips = {
            "Autograd": "Appendix A's first example: a logistic regression's loss and the gradients autograd computes.",
            "Batches": "Which training samples form each batch in the first epochs: the DataLoader made visible.",
            "Model": "The network these settings build: print(model), its layers and parameter counts.",
            "Code": "The plain PyTorch script that trains these settings, to copy or export.",
        }
        for panel, title in ((self.autograd, "Autograd"), (self.batches, "Batches"), (self.model, "Model"),
                             (self.code, "Code")):
            i = self.addTab(panel, title)
            self.setTabToolTip(i, tips[title])
        self._torch_timer: QTimer | None = None
        if not ready:
            self._torch_timer = QTimer(self)
            self._torch_timer.setInterval(TORCH_POLL_MS)
            self._torch_timer.timeout.connect(self._look_for_torch)
            self._torch_timer.start()

    def set_config(self, cfg: TrainConfig | None) -> None:
        """The current settings (None: they are not valid, and the panels say so instead of showing old content)."""
        if cfg is not None:
            try:
                cfg = cfg.validate()
            except ValueError:
                cfg = None
        self.batches.set_config(cfg)
        self.model.set_config(cfg)
        self.code.set_config(cfg)

    def set_device_text(self, text: str) -> None:
        """The device a run uses, as the window words it (e.g. "cuda:0"); empty: the settings' own device."""
        self.model.set_device_text(text)

    def torch_ready(self) -> None:
        """torch has loaded: the panels that need it compute now."""
        if self._torch_timer is not None:
            self._torch_timer.stop()
            self._torch_timer = None
        if self._torch_ready:
            return
        self._torch_ready = True
        for panel in (self.autograd, self.batches, self.model):
            panel.set_torch_ready()

    def is_torch_ready(self) -> bool:
        return self._torch_ready

    def shutdown(self) -> None:
        """Cancel the panels' work and wait for their threads (call when the window closes)."""
        if self._torch_timer is not None:
            self._torch_timer.stop()
        self.runner.shutdown()

    def closeEvent(self, event) -> None:  # noqa: N802 - Qt's name
        self.shutdown()
        super().closeEvent(event)

    def _look_for_torch(self) -> None:
        if torch_loaded():
            self.torch_ready()
