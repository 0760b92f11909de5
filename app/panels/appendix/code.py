"""The Code panel: the plain PyTorch script for the current settings (core.script), highlighted, its changed lines marked, to copy or export."""

from __future__ import annotations

import difflib
import os

from PySide6.QtGui import QColor, QGuiApplication, QTextCursor, QTextFormat
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QPlainTextEdit, QPushButton, QTextEdit, QVBoxLayout, QWidget

from app.panels.appendix._common import INVALID_TEXT, error_text, monospace_font, note_label
from app.panels.appendix.highlight import PythonHighlighter
from core.atomic import atomic_write_text
from core.config import TrainConfig
from core.script import render_script

CHANGED = QColor("#fff3b0")  # light yellow: the lines the last settings change changed
SCRIPT_FILTER = "Python scripts (*.py);;All files (*)"


def line_edits(old: str, new: str) -> list[tuple[str, int, int, int, int]]:
    """difflib's opcodes turning the lines of `old` into those of `new`."""
    return difflib.SequenceMatcher(None, old.splitlines(), new.splitlines(), autojunk=False).get_opcodes()


def changed_lines(old: str, new: str) -> list[int]:
    """0-based numbers of the lines of `new` that differ from `old` (replaced or inserted); none when old is empty."""
    if not old:
        return []
    return [j for tag, _i1, _i2, j1, j2 in line_edits(old, new) if tag in ("replace", "insert") for j in range(j1, j2)]


def write_text_atomically(path: str, text: str) -> None:
    """Write `text` to `path` through a temporary file beside it and os.replace (core.atomic)."""
    atomic_write_text(path, text)


class CodePanel(QWidget):
    """The book-style script that reproduces a run of the current settings, updated as they change."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("codePanel")
        self._script = ""  # the script shown ("" when the settings are not valid)
        self._previous = ""  # the last valid script before it, what the marks compare against
        self._changed: list[int] = []
        self._next_change = 0

        self.info_label = note_label(name="codeInfoLabel", accessible="About the script")
        self.editor = QPlainTextEdit()
        self.editor.setObjectName("codeText")
        self.editor.setAccessibleName("Script for these settings")
        self.editor.setToolTip(
            "A plain PyTorch script in the book's style (Dataset, DataLoader, the NeuralNetwork class, the loop with "
            "zero_grad, backward and step) for these settings. Run alone, python train.py prints the same losses as "
            "the app and saves the same weights, bit for bit. Lines changed by the last settings change are yellow."
        )
        self.editor.setReadOnly(True)
        self.editor.setFont(monospace_font())
        self.editor.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.highlighter = PythonHighlighter(self.editor.document())
        self.copy_button = self._button("codeCopyButton", "Copy", "Copy the script to the clipboard.")
        self.next_button = self._button("codeNextChangeButton", "Next change",
                                        "Scroll to the next line the last settings change changed.")
        self.export_button = self._button("exportScriptButton", "Export Script…",
                                          "Save the script as a .py file you can run with python, outside the app.")
        self.status_label = note_label(name="codeStatusLabel", accessible="Export status")
        buttons = QHBoxLayout()
        buttons.addWidget(self.copy_button)
        buttons.addWidget(self.export_button)
        buttons.addWidget(self.next_button)
        buttons.addWidget(self.status_label, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.info_label)
        layout.addWidget(self.editor, 1)
        layout.addLayout(buttons)
        self.copy_button.clicked.connect(self.copy)
        self.export_button.clicked.connect(self._ask_export)
        self.next_button.clicked.connect(self.show_next_change)
        self.set_config(None)

    def _button(self, name: str, text: str, tip: str) -> QPushButton:
        b = QPushButton(text)
        b.setObjectName(name)
        b.setAccessibleName(text.rstrip("…"))
        b.setToolTip(tip)
        return b

    # --- public API ----------------------------------------------------------------------------------

    def set_config(self, cfg: TrainConfig | None) -> None:
        """Show the script for `cfg`; None: the settings are not valid (no script is shown)."""
        if cfg is None:
            self._set_script("", INVALID_TEXT)
            return
        try:
            script = render_script(cfg)
        except ValueError as exc:  # ConfigError, DataError: the engine would refuse these settings too
            self._set_script("", f"No script for these settings: {error_text(exc)}")
            return
        self._set_script(script, "")

    def script(self) -> str:
        """The script shown; empty when the settings are not valid."""
        return self._script

    def changed_lines(self) -> list[int]:
        """0-based numbers of the lines marked as changed by the last settings change."""
        return list(self._changed)

    def copy(self) -> None:
        if self._script:
            QGuiApplication.clipboard().setText(self._script)
            self.status_label.setText("Copied to the clipboard.")

    def export_script(self, path: str | os.PathLike) -> bool:
        """Write the script to `path` atomically; False (and the reason shown) when it cannot be written."""
        path = os.fspath(path)
        if not self._script:
            self.status_label.setText("Nothing to export: the settings are not valid.")
            return False
        try:
            write_text_atomically(path, self._script)
        except OSError as exc:
            self.status_label.setText(f"Could not write {path}: {exc.strerror or exc}")
            return False
        self.status_label.setText(f"Exported to {path}: run it with python {os.path.basename(path)}")
        return True

    def show_next_change(self) -> None:
        """Scroll to the next changed line (cycling)."""
        if not self._changed:
            return
        line = self._changed[self._next_change % len(self._changed)]
        self._next_change += 1
        cursor = QTextCursor(self.editor.document().findBlockByNumber(line))
        self.editor.setTextCursor(cursor)
        self.editor.centerCursor()

    # --- updating ------------------------------------------------------------------------------------

    def _set_script(self, script: str, message: str) -> None:
        enabled = bool(script)
        self.copy_button.setEnabled(enabled)
        self.export_button.setEnabled(enabled)
        if script == self._script:
            if not script:
                self.info_label.setText(message)
            return
        if self._script:
            self._previous = self._script
        self._script = script
        self.status_label.setText("")
        if not script:
            self._changed = []
            self.editor.setPlainText("")
            self.editor.setExtraSelections([])
            self.info_label.setText(message)
            self.next_button.setEnabled(False)
            return
        self._replace_text(script)
        self._changed = changed_lines(self._previous, script)
        self._next_change = 0
        self._mark(self._changed)
        self.next_button.setEnabled(bool(self._changed))
        n = len(self._changed)
        what = (f"{n} line(s) changed by the last settings change are marked yellow." if n
                else "It follows the settings as you change them; changed lines are marked yellow.")
        self.info_label.setText(
            f"The plain PyTorch script for these settings ({script.count(chr(10))} lines): run it with "
            f"<code>python train.py</code> to get the same batches, losses and weights as the app. {what}"
        )

    def _replace_text(self, script: str) -> None:
        """Show `script`, rewriting only the lines that differ from what is shown: the highlighter then redoes only
        those, and the view stays where it was (a settings change rewrites a few lines of ~200)."""
        doc = self.editor.document()
        shown = doc.toPlainText()
        if not shown or not shown.endswith("\n") or not script.endswith("\n"):
            self.editor.setPlainText(script)
            return
        # Both end with a newline, so the document has one (empty) block after the last line: block i2 exists for
        # every opcode, and the lines i1..i2 are exactly the text from block i1's start to block i2's start.
        cursor = QTextCursor(doc)
        cursor.beginEditBlock()
        new_lines = script.splitlines()
        for tag, i1, i2, j1, j2 in reversed(line_edits(shown, script)):
            if tag == "equal":
                continue
            cursor.setPosition(doc.findBlockByNumber(i1).position())
            cursor.setPosition(doc.findBlockByNumber(i2).position(), QTextCursor.MoveMode.KeepAnchor)
            cursor.insertText("".join(line + "\n" for line in new_lines[j1:j2]))
        cursor.endEditBlock()
        if doc.toPlainText() != script:  # never expected; the whole text is the safe way back
            self.editor.setPlainText(script)

    def _mark(self, lines: list[int]) -> None:
        selections = []
        doc = self.editor.document()
        for line in lines:
            sel = QTextEdit.ExtraSelection()
            sel.format.setBackground(CHANGED)
            sel.format.setProperty(QTextFormat.Property.FullWidthSelection, True)
            sel.cursor = QTextCursor(doc.findBlockByNumber(line))
            sel.cursor.clearSelection()
            selections.append(sel)
        self.editor.setExtraSelections(selections)

    def _ask_export(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export Script", "train.py", SCRIPT_FILTER)
        if path:
            self.export_script(path)
