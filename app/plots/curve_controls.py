"""The row above the loss plot: smoothing, what x shows, a log scale, export, and the hover readout."""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QHBoxLayout, QLabel, QMenu, QToolButton, QVBoxLayout, QWidget

from app.state.runs import X_MODES

X_TEXT = {"step": "step", "epoch": "epoch", "samples": "samples seen", "time": "wall time"}
EXPORTS = (
    ("loss-png", "Loss plot as PNG…"),
    ("loss-svg", "Loss plot as SVG…"),
    ("accuracy-png", "Accuracy plot as PNG…"),
    ("accuracy-svg", "Accuracy plot as SVG…"),
    ("curves-csv", "Curves as CSV…"),
)


class CurveControls(QWidget):
    """Signals: smoothingChanged(float), xModeChanged(str), logScaleChanged(bool), exportRequested(str)
    (one of EXPORTS' keys)."""

    smoothingChanged = Signal(float)
    xModeChanged = Signal(str)
    logScaleChanged = Signal(bool)
    exportRequested = Signal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("curveControls")
        self.smoothing_spin = QDoubleSpinBox()
        self.smoothing_spin.setObjectName("smoothingSpin")
        self.smoothing_spin.setAccessibleName("Smoothing")
        self.smoothing_spin.setRange(0.0, 0.999)
        self.smoothing_spin.setDecimals(3)
        self.smoothing_spin.setSingleStep(0.05)
        self.smoothing_spin.setValue(0.0)
        self.smoothing_spin.setToolTip(
            "Smooth the loss curves as TensorBoard does: an exponential moving average of the batch losses with "
            "this weight on the past (0: off; 0.6 is TensorBoard's default; 0.99 very smooth), debiased so the "
            "curve does not start at 0. The raw losses stay drawn faintly behind.")
        self.x_combo = QComboBox()
        self.x_combo.setObjectName("xAxisCombo")
        self.x_combo.setAccessibleName("Loss plot x axis")
        for mode in X_MODES:
            self.x_combo.addItem(X_TEXT[mode], mode)
        self.x_combo.setToolTip("What the loss plot's x axis counts: optimizer steps (batches), epochs, samples seen, "
                                "or seconds of training. Runs with other batch sizes compare best by samples seen.")
        self.log_check = QCheckBox("log y")
        self.log_check.setObjectName("logScaleCheck")
        self.log_check.setAccessibleName("Log scale")
        self.log_check.setToolTip("A logarithmic loss axis: a loss falling from 1 to 0.001 stays readable.")
        self.export_button = QToolButton()
        self.export_button.setObjectName("exportCurvesButton")
        self.export_button.setAccessibleName("Export plots and curves")
        self.export_button.setText("Export")
        self.export_button.setToolTip("Save the plots as PNG or SVG images, or every visible run's losses as CSV.")
        self.export_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        menu = QMenu(self.export_button)
        menu.setObjectName("exportMenu")
        for key, text in EXPORTS:
            action = menu.addAction(text)
            action.setObjectName(f"export-{key}")
            action.triggered.connect(lambda _=False, k=key: self.exportRequested.emit(k))
        self.export_button.setMenu(menu)
        self.readout = QLabel("")
        self.readout.setObjectName("curveReadoutLabel")
        self.readout.setAccessibleName("Curve readout")
        self.readout.setStyleSheet("QLabel { color: #404040; }")
        self.readout.setToolTip("The run, step, epoch and loss under the mouse pointer on the loss plot.")

        row = QHBoxLayout()
        row.setContentsMargins(0, 0, 0, 0)
        label = QLabel("Smoothing")
        label.setBuddy(self.smoothing_spin)
        row.addWidget(label)
        row.addWidget(self.smoothing_spin)
        x_label = QLabel("x")
        x_label.setBuddy(self.x_combo)
        row.addSpacing(8)
        row.addWidget(x_label)
        row.addWidget(self.x_combo)
        row.addSpacing(8)
        row.addWidget(self.log_check)
        row.addStretch(1)
        row.addWidget(self.export_button)
        box = QVBoxLayout(self)
        box.setContentsMargins(4, 2, 4, 0)
        box.setSpacing(0)
        box.addLayout(row)
        box.addWidget(self.readout)
        self.readout.setMinimumHeight(self.readout.fontMetrics().height())

        self.smoothing_spin.valueChanged.connect(lambda v: self.smoothingChanged.emit(float(v)))
        self.x_combo.currentIndexChanged.connect(lambda _i: self.xModeChanged.emit(self.x_combo.currentData()))
        self.log_check.toggled.connect(self.logScaleChanged)
