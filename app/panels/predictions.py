"""The predictions view: test samples with predicted and true class, softmax probabilities, logits, features; and
the confusion matrix."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QAbstractTableModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from app.panels.widgets import reserve_lines
from app.plots.confusion import ConfusionMatrix
from app.state.model_outputs import PredictionTable

WRONG = QColor(255, 205, 210)
# The columns before the probabilities: the row number, then what a reader looks for first.
LEAD_COLUMNS = ["#", "predicted", "true", "correct"]


class PredictionsModel(QAbstractTableModel):
    """A PredictionTable as a read-only table model: cells are formatted only when the view shows
    them, so filling it costs nothing at any number of rows (a QTableWidget of 500 rows took 40 to
    80 ms, freezing the window at the end of every run)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self._preds: PredictionTable | None = None
        self._headers: list[str] = []
        self._classes: list[str] = []
        self._wrong = np.zeros(0, dtype=bool)
        self._wrong_brush = QBrush(WRONG)
        # Built once: combining Qt enum flags goes through Python's enum machinery (~40 us a time).
        self._align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter

    def set_table(self, preds: PredictionTable | None) -> None:
        self.beginResetModel()
        self._preds = preds
        if preds is None:
            self._headers, self._classes, self._wrong = [], [], np.zeros(0, dtype=bool)
        else:
            f = preds.features.shape[1]
            k = preds.logits.shape[1]
            self._classes = list(preds.class_names) if len(preds.class_names) == k else [str(i) for i in range(k)]
            # Classes first, features last: with digits' 64 features the classes were 80 columns off screen.
            self._headers = (
                LEAD_COLUMNS
                + [f"p({c})" for c in self._classes]
                + [f"logit {c}" for c in self._classes]
                + list(preds.feature_names[:f])
            )
            self._wrong = np.asarray(preds.predicted) != np.asarray(preds.true)
        self.endResetModel()

    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() or self._preds is None else int(self._preds.features.shape[0])

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._headers)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole):
        if role == Qt.ItemDataRole.DisplayRole and orientation == Qt.Orientation.Horizontal and 0 <= section < len(self._headers):
            return self._headers[section]
        return None

    def text(self, row: int, column: int) -> str:
        """What the cell at (row, column) shows."""
        p = self._preds
        f, k = p.features.shape[1], p.logits.shape[1]
        if column == 0:
            return str(row + 1)
        if column == 1:
            return self._classes[int(p.predicted[row])]
        if column == 2:
            return self._classes[int(p.true[row])]
        if column == 3:
            return "no" if self._wrong[row] else "yes"
        c = column - len(LEAD_COLUMNS)
        if c < k:
            return f"{p.probabilities[row, c]:.4f}"
        c -= k
        if c < k:
            return f"{p.logits[row, c]:.4f}"
        c -= k
        return f"{p.features[row, c]:.4g}" if c < f else ""

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if self._preds is None or not index.isValid():
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.text(index.row(), index.column())
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return self._align
        if role == Qt.ItemDataRole.BackgroundRole and self._wrong[index.row()]:
            return self._wrong_brush
        return None


class PredictionsPanel(QWidget):
    """Shows a PredictionTable, the accuracy, and a one-row "predict these features" box.

    The box only asks (`predictRequested(text)`); the window computes and calls `show_prediction`.
    """

    predictRequested = Signal(str)
    evaluateRequested = Signal()
    tableChanged = Signal(object)  # the PredictionTable shown now, or None: the data plot rings its mistakes

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("predictionsPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)

        self.accuracy_label = QLabel("No model yet: train one or open a model file.")
        self.accuracy_label.setObjectName("predictionsAccuracyLabel")
        self.accuracy_label.setAccessibleName("Accuracy")
        self.accuracy_label.setWordWrap(True)
        reserve_lines(self.accuracy_label, 2)
        layout.addWidget(self.accuracy_label)

        self.model = PredictionsModel(self)
        self.table = QTableView()
        self.table.setModel(self.model)
        self.table.setObjectName("predictionsTable")
        self.table.setAccessibleName("Predictions on the test split")
        self.table.setToolTip(
            "One row per test sample: the predicted class (the most probable), the true class, whether they agree, "
            "the softmax probabilities that turn the model's raw outputs (logits, next) into shares of 1, and last "
            "the sample's features. Wrong predictions are shaded red."
        )
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)  # the "#" column numbers the rows
        self.table.verticalHeader().setDefaultSectionSize(22)
        # Column widths are set from the header and the first rows when a table arrives (see
        # _fit_columns): ResizeToContents measured every cell of the sampled rows, all data roles, at
        # every reset (~30 ms at the end of each run).
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Interactive)
        # Beside the table, so both are seen at once; the splitter gives the table what the matrix leaves.
        self.confusion = ConfusionMatrix()
        self.split = QSplitter(Qt.Orientation.Horizontal)
        self.split.setObjectName("predictionsSplitter")
        self.split.setChildrenCollapsible(False)
        self.split.addWidget(self.table)
        self.split.addWidget(self.confusion)
        self.split.setStretchFactor(0, 1)
        self.split.setStretchFactor(1, 0)
        self._matrix_classes = -1  # the class count the splitter was last fitted to
        layout.addWidget(self.split, 1)

        row = QHBoxLayout()
        self.predict_edit = QLineEdit()
        self.predict_edit.setObjectName("predictInputEdit")
        self.predict_edit.setAccessibleName("Features to predict")
        self.predict_edit.setPlaceholderText("features, e.g. -1.0, 3.0")
        self.predict_edit.setToolTip(
            "Type one sample's feature values, comma separated, and press Enter: the model says which class it "
            "predicts and how sure it is (softmax probability). Standardization, if on, is applied for you."
        )
        self.predict_button = QPushButton("Predict")
        self.predict_button.setObjectName("predictButton")
        self.predict_button.setAccessibleName("Predict")
        self.predict_button.setToolTip("Run the model on the features typed on the left (eval mode, no gradients).")
        self.predict_result = QLabel("")
        self.predict_result.setObjectName("predictResultLabel")
        self.predict_result.setAccessibleName("Prediction")
        self.predict_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # On a line of its own, wrapped, and never asking for width: a long message beside the box
        # made the row as wide as the message and squeezed the accuracy plot next to this panel.
        self.predict_result.setWordWrap(True)
        self.predict_result.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        reserve_lines(self.predict_result, 2)
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setObjectName("evaluateButton")
        self.evaluate_button.setAccessibleName("Evaluate on the chosen data")
        self.evaluate_button.setToolTip(
            "Run an opened model on the data set chosen in the settings and fill this table, when the model's "
            "inputs and outputs fit that data's features and classes."
        )
        self.evaluate_button.setEnabled(False)
        self.predict_edit.setMinimumWidth(180)
        row.addWidget(self.predict_edit, 1)
        row.addWidget(self.predict_button)
        row.addWidget(self.evaluate_button)
        self.evaluate_button.clicked.connect(self.evaluateRequested)
        layout.addLayout(row)
        layout.addWidget(self.predict_result)
        self.predict_button.clicked.connect(self._request)
        self.predict_edit.returnPressed.connect(self._request)
        self._current: PredictionTable | None = None

    def _fit_columns(self, rows: int = 20) -> None:
        """Each column as wide as its header or the widest of its first `rows` cells."""
        model, fm = self.model, self.table.fontMetrics()
        header_fm = self.table.horizontalHeader().fontMetrics()
        n = min(rows, model.rowCount())
        for c in range(model.columnCount()):
            width = header_fm.horizontalAdvance(model.headerData(c, Qt.Orientation.Horizontal)) + 18
            for r in range(n):
                width = max(width, fm.horizontalAdvance(model.text(r, c)) + 12)
            self.table.setColumnWidth(c, width)

    def _fit_matrix(self, classes: int) -> None:
        """Give the confusion matrix its preferred width when the class count changes (a width the user
        dragged the splitter to is kept while it does not); the table keeps at least 40%."""
        total = sum(self.split.sizes())
        if classes == self._matrix_classes or total <= 0:
            return
        self._matrix_classes = classes
        matrix = min(self.confusion.sizeHint().width(), int(total * 0.6))
        self.split.setSizes([total - matrix, matrix])

    def _request(self) -> None:
        self.predictRequested.emit(self.predict_edit.text())

    def show_prediction(self, text: str) -> None:
        self.predict_result.setText(text)

    def current(self) -> PredictionTable | None:
        return self._current

    def clear(self, note: str = "No model yet: train one or open a model file.") -> None:
        self._current = None
        self.model.set_table(None)
        self.confusion.set_table(None)
        self.accuracy_label.setText(note)
        self.predict_result.setText("")
        self.tableChanged.emit(None)

    def set_predictions(self, preds: PredictionTable | None, note: str = "") -> None:
        if preds is None:
            self.clear(note or "No samples to predict.")
            return
        self._current = preds
        self.model.set_table(preds)
        self.confusion.set_table(preds)
        self._fit_columns()
        self._fit_matrix(preds.logits.shape[1])
        n = preds.features.shape[0]
        shown = "" if n == preds.total else f" (first {n} of {preds.total} rows shown)"
        acc = preds.accuracy
        acc_text = "n/a" if np.isnan(acc) else f"{acc * 100:.1f}%"
        text = f"{preds.split.capitalize()} accuracy: {acc_text} ({preds.correct}/{preds.total} correct){shown}"
        if note:
            text += f". {note}"
        self.accuracy_label.setText(text)
        self.tableChanged.emit(preds)
