"""What the window says: the status line and the message box (non-blocking), one place for both."""

from __future__ import annotations

from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QMessageBox, QWidget

from app.window.about import APP_NAME
from core.errors import FIXABLE_ERRORS


class Messages:
    """The status line (`statusLabel`) and the window's one message box.

    `kind` is what the status line says now: "idle" (a hint), "refusal" (a Train that could not start:
    settings that fix it clear it) or "info". `last` is the (title, text) of the last message box.
    """

    def __init__(self, parent: QWidget, status_label: QLabel):
        self._parent = parent
        self.status_label = status_label
        self.kind = "idle"
        self.last: tuple[str, str] | None = None
        self.box: QMessageBox | None = None

    def status(self, text: str, kind: str = "info") -> None:
        self.status_label.setText(text)
        self.kind = kind

    def refuse(self, title: str, text: str, kind: str = "info", status: str | None = None) -> None:
        """A refusal: in the status line (or `status`) and in a message box."""
        self.status(status or text, kind)
        self.show(QMessageBox.Icon.Critical, title, text)

    def error(self, title: str, text: str) -> None:
        """An error message box, its text also in the status line."""
        self.refuse(title, text, status=f"Error: {text}")

    def show(self, icon: QMessageBox.Icon, title: str, text: str) -> None:
        """A non-blocking message box (open(), not exec()), so a test or a running plot never waits on it."""
        self.last = (title, text)
        box = self.box
        if box is None:
            box = QMessageBox(self._parent)
            box.setObjectName("messageBox")
            box.setStandardButtons(QMessageBox.StandardButton.Ok)
            self.box = box
        box.setIcon(icon)
        box.setWindowTitle(title)
        box.setText(text)
        box.open()

    def file_failed(self, what: str, path: str, exc: BaseException) -> None:
        """A file that could not be opened, saved, exported or evaluated: its reason, in a person's words."""
        reason = str(exc) or type(exc).__name__
        if not isinstance(exc, FIXABLE_ERRORS):
            reason = f"{type(exc).__name__}: {reason}"
        text = reason[:1].upper() + reason[1:] if reason.lower().startswith("cannot") else f"Cannot {what} {path}: {reason}"
        self.refuse(f"Cannot {what}", text)

    def close(self) -> None:
        if self.box is not None:
            self.box.close()

    def ask_discard(self, question: str) -> bool:
        # Without a screen (tests, CI) nobody could answer a modal question: carry on.
        if QGuiApplication.platformName() in ("offscreen", "minimal"):
            return True
        buttons = QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel
        answer = QMessageBox.question(self._parent, APP_NAME, question, buttons, QMessageBox.StandardButton.Cancel)
        return answer == QMessageBox.StandardButton.Discard
