"""The predictions view: test samples with features, logits, softmax probabilities, predicted and true class."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QBrush, QColor
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.session import PredictionTable

WRONG = QColor(255, 205, 210)


class PredictionsPanel(QWidget):
    """Shows a PredictionTable, the accuracy, and a one-row "predict these features" box.

    The box only asks (`predictRequested(text)`); the window computes and calls `show_prediction`.
    """

    predictRequested = Signal(str)
    evaluateRequested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("predictionsPanel")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)

        self.accuracy_label = QLabel("No model yet: train one or open a model file.")
        self.accuracy_label.setObjectName("predictionsAccuracyLabel")
        self.accuracy_label.setAccessibleName("Accuracy")
        self.accuracy_label.setWordWrap(True)
        layout.addWidget(self.accuracy_label)

        self.table = QTableWidget(0, 0)
        self.table.setObjectName("predictionsTable")
        self.table.setAccessibleName("Predictions on the test split")
        self.table.setToolTip(
            "One row per test sample: its features, the model's raw outputs (logits), the softmax probabilities "
            "that turn them into shares of 1, the predicted class (the largest) and the true class. "
            "Wrong predictions are shaded red."
        )
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setAlternatingRowColors(True)
        self.table.verticalHeader().setVisible(False)  # the "#" column numbers the rows
        self.table.verticalHeader().setDefaultSectionSize(22)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.table, 1)

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
        self.evaluate_button = QPushButton("Evaluate")
        self.evaluate_button.setObjectName("evaluateButton")
        self.evaluate_button.setAccessibleName("Evaluate on the chosen data")
        self.evaluate_button.setToolTip(
            "Run an opened model on the data set chosen in the settings and fill this table, when the model's "
            "inputs and outputs fit that data's features and classes."
        )
        self.evaluate_button.setEnabled(False)
        self.predict_edit.setMinimumWidth(180)
        row.addWidget(self.predict_edit, 2)
        row.addWidget(self.predict_button)
        row.addWidget(self.predict_result, 3)
        row.addWidget(self.evaluate_button)
        self.evaluate_button.clicked.connect(self.evaluateRequested)
        layout.addLayout(row)
        self.predict_button.clicked.connect(self._request)
        self.predict_edit.returnPressed.connect(self._request)
        self._current: PredictionTable | None = None

    def _request(self) -> None:
        self.predictRequested.emit(self.predict_edit.text())

    def show_prediction(self, text: str) -> None:
        self.predict_result.setText(text)

    def current(self) -> PredictionTable | None:
        return self._current

    def clear(self, note: str = "No model yet: train one or open a model file.") -> None:
        self._current = None
        self.table.clearContents()
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.accuracy_label.setText(note)
        self.predict_result.setText("")

    def set_predictions(self, preds: PredictionTable | None, split: str = "test", note: str = "") -> None:
        if preds is None:
            self.clear(note or "No samples to predict.")
            return
        self._current = preds
        n, f = preds.features.shape
        k = preds.logits.shape[1]
        classes = list(preds.class_names) if len(preds.class_names) == k else [str(i) for i in range(k)]
        headers = (
            ["#"]
            + list(preds.feature_names[:f])
            + [f"logit {c}" for c in classes]
            + [f"p({c})" for c in classes]
            + ["predicted", "true"]
        )
        table = self.table
        table.setUpdatesEnabled(False)
        table.clearContents()
        table.setColumnCount(len(headers))
        table.setHorizontalHeaderLabels(headers)
        table.setRowCount(n)
        wrong_brush = QBrush(WRONG)
        # Built once: combining Qt enum flags goes through Python's enum machinery (~40 us a time),
        # which per cell made a 500-row table freeze the window for a quarter of a second.
        align = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for r in range(n):
            wrong = preds.predicted[r] != preds.true[r]
            values = (
                [str(r + 1)]
                + [f"{v:.4g}" for v in preds.features[r]]
                + [f"{v:.4f}" for v in preds.logits[r]]
                + [f"{v:.4f}" for v in preds.probabilities[r]]
                + [classes[int(preds.predicted[r])], classes[int(preds.true[r])]]
            )
            for c, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setTextAlignment(align)
                if wrong:
                    item.setBackground(wrong_brush)
                table.setItem(r, c, item)
        table.setUpdatesEnabled(True)
        shown = "" if n == preds.total else f" (first {n} of {preds.total} rows shown)"
        acc = preds.accuracy
        acc_text = "n/a" if np.isnan(acc) else f"{acc * 100:.1f}%"
        text = f"{split.capitalize()} accuracy: {acc_text} ({preds.correct}/{preds.total} correct){shown}"
        if note:
            text += f". {note}"
        self.accuracy_label.setText(text)
