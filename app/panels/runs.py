"""The runs panel: every run kept side by side (colour, name, what changed, result), shown or hidden on the plots."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QIcon, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.state.runs import RunList, RunRecord

COLUMNS = ("Run", "Changed from the run before", "Result", "Settings")
RUN_ID = Qt.ItemDataRole.UserRole


def _swatch(color: tuple[int, int, int]) -> QIcon:
    pix = QPixmap(12, 12)
    pix.fill(QColor(*color))
    return QIcon(pix)


class RunsPanel(QWidget):
    """Signals: visibilityChanged(run id, shown), renamed(run id, name), removeRequested(run id),
    restoreRequested(run id)."""

    visibilityChanged = Signal(int, bool)
    renamed = Signal(int, str)
    removeRequested = Signal(int)
    restoreRequested = Signal(int)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("runsPanel")
        self.setAccessibleName("Runs")
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("runsTable")
        self.table.setAccessibleName("Runs table")
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.verticalHeader().setVisible(False)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed)
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(2, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        self.table.setColumnWidth(1, 200)
        self.table.setToolTip(
            "Each run from fresh weights (Train after Reset, or after a change that needs a new model) is kept here. "
            "Tick a run to show it on the plots; double-click its name to rename it.")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("removeRunButton")
        self.remove_button.setAccessibleName("Remove run")
        self.remove_button.setToolTip("Forget the selected run and its curves (the model, if it is the current one, stays).")
        self.restore_button = QPushButton("Restore settings")
        self.restore_button.setObjectName("restoreRunSettingsButton")
        self.restore_button.setAccessibleName("Restore the run's settings")
        self.restore_button.setToolTip("Put the selected run's settings back into the form, to run it again or vary it.")
        self.note = QLabel("No runs yet: each Train from fresh weights adds one.")
        self.note.setObjectName("runsNote")
        self.note.setWordWrap(True)
        self.note.setStyleSheet("QLabel { color: #505050; }")
        buttons = QHBoxLayout()
        buttons.addWidget(self.note, 1)
        buttons.addWidget(self.restore_button)
        buttons.addWidget(self.remove_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.addWidget(self.table, 1)
        box.addLayout(buttons)
        self._filling = False
        self._shown: tuple[RunList, RunRecord | None] | None = None  # what set_runs last showed
        self.table.itemChanged.connect(self._item_changed)
        self.table.itemSelectionChanged.connect(self._update_buttons)
        self.remove_button.clicked.connect(lambda: self._emit_selected(self.removeRequested))
        self.restore_button.clicked.connect(lambda: self._emit_selected(self.restoreRequested))
        self._update_buttons()

    # --- showing ---------------------------------------------------------------------------------

    def set_runs(self, runs: RunList, current: RunRecord | None = None) -> None:
        """Show the list (rebuilt: runs are few); the current run is marked and selected."""
        self._shown = (runs, current)
        selected = self.selected_id()
        self._filling = True
        try:
            self.table.setRowCount(len(runs.runs))
            for row, run in enumerate(runs.runs):
                name = QTableWidgetItem(run.name + (" (current)" if run is current else ""))
                name.setData(RUN_ID, run.id)
                name.setIcon(_swatch(run.color))
                name.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable
                              | Qt.ItemFlag.ItemIsEditable)
                name.setCheckState(Qt.CheckState.Checked if run.visible else Qt.CheckState.Unchecked)
                name.setToolTip(f"{run.name}: {run.settings_text()}" + (f"\nfrom {run.source}" if run.source != "trained" else ""))
                self.table.setItem(row, 0, name)
                changes = "; ".join(run.changes) if run.changes else ("first run" if row == 0 else "same settings")
                for col, text in ((1, changes), (2, run.final_text()), (3, run.settings_text())):
                    cell = QTableWidgetItem(text)
                    cell.setFlags(Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable)
                    cell.setToolTip(text)
                    self.table.setItem(row, col, cell)
        finally:
            self._filling = False
        keep = selected if selected is not None else (current.id if current is not None else None)
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(RUN_ID) == keep:
                self.table.selectRow(row)
        n = len(runs.runs)
        self.note.setText("No runs yet: each Train from fresh weights adds one." if n == 0 else
                          f"{n} run{'s' if n != 1 else ''}: tick to show on the plots, double-click a name to rename.")
        self._update_buttons()

    def selected_id(self) -> int | None:
        rows = self.table.selectionModel().selectedRows() if self.table.selectionModel() else []
        if not rows:
            return None
        return self.table.item(rows[0].row(), 0).data(RUN_ID)

    def select(self, run_id: int) -> None:
        for row in range(self.table.rowCount()):
            if self.table.item(row, 0).data(RUN_ID) == run_id:
                self.table.selectRow(row)

    # --- private -----------------------------------------------------------------------------------

    def _update_buttons(self) -> None:
        has = self.selected_id() is not None
        self.remove_button.setEnabled(has)
        self.restore_button.setEnabled(has)

    def _emit_selected(self, signal) -> None:
        run_id = self.selected_id()
        if run_id is not None:
            signal.emit(run_id)

    def _item_changed(self, item: QTableWidgetItem) -> None:
        if self._filling or item.column() != 0:
            return
        run_id = item.data(RUN_ID)
        self.visibilityChanged.emit(run_id, item.checkState() == Qt.CheckState.Checked)
        text = item.text().removesuffix(" (current)").strip()
        if text:
            self.renamed.emit(run_id, text)
        elif self._shown is not None and (run := self._shown[0].get(run_id)) is not None:
            # A run needs a name: the old one comes back.
            self._filling = True
            try:
                item.setText(run.name + (" (current)" if run is self._shown[1] else ""))
            finally:
                self._filling = False
