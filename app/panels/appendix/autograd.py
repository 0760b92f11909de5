"""The Autograd panel: Appendix A's logistic-regression example, its graph with values and gradients, and gradient steps by hand."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.panels.appendix._common import WAITING_TEXT, monospace_font, note_label, torch_loaded
from app.panels.appendix.autograd_graph import ComputationGraphView
from core.autograd_demo import BOOK_B, BOOK_W1, BOOK_X1, BOOK_Y, LogisticExample, gradient_step, logistic_example

BOOK_LR = 0.5
DECIMALS = 6  # what a spin keeps; it shows only the digits that are not trailing zeros


class ValueSpin(QDoubleSpinBox):
    """A spin box that keeps 6 decimals but shows 2.2 rather than 2.200000."""

    def __init__(self, name: str, accessible: str, low: float, high: float, value: float, step: float, tip: str):
        super().__init__()
        self.setObjectName(name)
        self.setAccessibleName(accessible)
        self.setToolTip(tip)
        self.setDecimals(DECIMALS)
        self.setRange(low, high)
        self.setSingleStep(step)
        self.setValue(value)
        self.setKeyboardTracking(True)
        self.setAlignment(Qt.AlignmentFlag.AlignRight)
        # Wide enough for any value it can hold, whatever it holds now (its size hint follows its text).
        self.setMinimumWidth(self.fontMetrics().horizontalAdvance("-100.000000") + 32)

    def textFromValue(self, value: float) -> str:  # noqa: N802 - Qt's name
        text = super().textFromValue(value)
        point = self.locale().decimalPoint()
        if point in text:
            whole, frac = text.split(point, 1)
            frac = frac.rstrip("0") or "0"
            text = f"{whole}{point}{frac}"
        return text


def _f(value: float) -> str:
    return f"{value:.4f}"


class AutogradPanel(QWidget):
    """Set x₁, w₁, b and y; see z, a, the loss and autograd's dL/dw₁ and dL/db beside the hand-derived ones.

    Everything is recomputed in the GUI thread at each change: a handful of scalar operations.
    """

    def __init__(self, parent: QWidget | None = None, *, torch_ready: bool | None = None):
        super().__init__(parent)
        self.setObjectName("autogradPanel")
        self._torch_ready = torch_loaded() if torch_ready is None else torch_ready
        self._example: LogisticExample | None = None
        self._steps = 0
        self._first_loss: float | None = None

        self.graph = ComputationGraphView()
        self.x1_spin = ValueSpin("autogradX1Spin", "x1, the input", -100, 100, BOOK_X1, 0.1,
                                 "The input feature x₁ (a plain tensor: no gradient is computed for it).")
        self.w1_spin = ValueSpin("autogradW1Spin", "w1, the weight", -100, 100, BOOK_W1, 0.1,
                                 "The weight w₁: torch.tensor([w1], requires_grad=True), so autograd computes dL/dw₁.")
        self.b_spin = ValueSpin("autogradBSpin", "b, the bias", -100, 100, BOOK_B, 0.1,
                                "The bias b: requires_grad=True, so autograd computes dL/db.")
        self.y_spin = ValueSpin("autogradYSpin", "y, the target", 0, 1, BOOK_Y, 0.1,
                                "The true label y, between 0 and 1 (binary cross-entropy's target is a probability).")
        self.lr_spin = ValueSpin("autogradLrSpin", "Learning rate", 0.000001, 100, BOOK_LR, 0.1,
                                 "The learning rate lr: how far one gradient step moves, w₁ -= lr · dL/dw₁ and b -= lr · dL/db.")
        self.step_button = QPushButton("Gradient step")
        self.step_button.setObjectName("autogradStepButton")
        self.step_button.setAccessibleName("Gradient step")
        self.step_button.setToolTip("w₁ -= lr · dL/dw₁ and b -= lr · dL/db, what opt.step() of SGD does: the loss falls.")
        self.reset_button = QPushButton("Reset")
        self.reset_button.setObjectName("autogradResetButton")
        self.reset_button.setAccessibleName("Reset to the book's values")
        self.reset_button.setToolTip("Back to the book's values: x₁ = 1.1, w₁ = 2.2, b = 0.0, y = 1.0, learning rate 0.5.")

        inputs = QGroupBox("Inputs")
        form = QFormLayout(inputs)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        form.addRow("x₁", self.x1_spin)
        form.addRow("w₁", self.w1_spin)
        form.addRow("b", self.b_spin)
        form.addRow("y", self.y_spin)
        form.addRow("lr", self.lr_spin)
        buttons = QHBoxLayout()
        buttons.addWidget(self.step_button)
        buttons.addWidget(self.reset_button)
        form.addRow(buttons)

        self.z_label = self._label("autogradZLabel", "z")
        self.a_label = self._label("autogradALabel", "a")
        self.loss_label = self._label("autogradLossLabel", "Loss")
        big = QFont(self.loss_label.font())
        big.setBold(True)
        big.setPointSizeF(big.pointSizeF() * 1.15)
        self.loss_label.setFont(big)
        self.grad_w1_label = self._label("autogradGradW1Label", "dL/dw1 from autograd")
        self.grad_b_label = self._label("autogradGradBLabel", "dL/db from autograd")
        self.hand_w1_label = self._label("autogradHandW1Label", "dL/dw1 by hand")
        self.hand_b_label = self._label("autogradHandBLabel", "dL/db by hand")
        self.steps_label = self._label("autogradStepsLabel", "Gradient steps")
        self.steps_label.setWordWrap(True)
        self.note_label = note_label(name="autogradNoteLabel", accessible="Note")
        results = QGroupBox("Forward and backward")
        grid = QGridLayout(results)
        grid.addWidget(self.z_label, 0, 0, 1, 2)
        grid.addWidget(self.a_label, 1, 0, 1, 2)
        grid.addWidget(self.loss_label, 2, 0, 1, 2)
        grid.addWidget(self._header("autograd"), 3, 0)
        grid.addWidget(self._header("by hand (chain rule)"), 3, 1)
        grid.addWidget(self.grad_w1_label, 4, 0)
        grid.addWidget(self.hand_w1_label, 4, 1)
        grid.addWidget(self.grad_b_label, 5, 0)
        grid.addWidget(self.hand_b_label, 5, 1)
        grid.addWidget(self.steps_label, 6, 0, 1, 2)
        grid.addWidget(self.note_label, 7, 0, 1, 2)
        grid.setColumnStretch(0, 1)
        grid.setColumnStretch(1, 1)
        grid.setRowStretch(8, 1)
        # Each value label as wide as its longest text (values within ±10, the usual ones), so a new value never lays the panel out again.
        for label, widest in ((self.grad_w1_label, "dL/dw₁ = -10.0000"), (self.grad_b_label, "dL/db = -10.0000"),
                              (self.hand_w1_label, "(a − y)·x₁ = -10.0000"), (self.hand_b_label, "a − y = -10.0000")):
            label.setMinimumWidth(label.fontMetrics().horizontalAdvance(widest) + 4)

        self.code = QPlainTextEdit()
        self.code.setObjectName("autogradCodeText")
        self.code.setAccessibleName("The example's code")
        self.code.setReadOnly(True)
        self.code.setFont(monospace_font())
        self.code.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        code_box = QGroupBox("The book's code")
        QVBoxLayout(code_box).addWidget(self.code)

        bottom = QHBoxLayout()
        bottom.addWidget(inputs, 0)
        bottom.addWidget(results, 0)
        bottom.addWidget(code_box, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.graph, 1)
        layout.addLayout(bottom, 0)

        for spin in (self.x1_spin, self.w1_spin, self.b_spin, self.y_spin):
            spin.valueChanged.connect(self._on_value_changed)
        self.step_button.clicked.connect(self.step)
        self.reset_button.clicked.connect(self.reset)
        self._recompute()

    # --- building ------------------------------------------------------------------------------------

    def _label(self, name: str, accessible: str) -> QLabel:
        label = QLabel()
        label.setObjectName(name)
        label.setAccessibleName(accessible)
        label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        # As wide as its longest text, so a new value never lays the panel out again.
        return label

    @staticmethod
    def _header(text: str) -> QLabel:
        label = QLabel(text)
        label.setStyleSheet("QLabel { color: #52606d; font-style: italic; }")
        return label

    # --- public API ----------------------------------------------------------------------------------

    def example(self) -> LogisticExample | None:
        """The values shown (None until torch has loaded)."""
        return self._example

    def set_torch_ready(self) -> None:
        """torch has loaded: compute what the spins say."""
        if not self._torch_ready:
            self._torch_ready = True
            self._recompute()

    def step(self) -> None:
        """One gradient-descent step on w₁ and b with the panel's learning rate."""
        ex = self._example
        if ex is None:
            return
        if self._steps == 0:
            self._first_loss = ex.loss
        w1, b = gradient_step(ex, self.lr_spin.value())
        for spin, value in ((self.w1_spin, w1), (self.b_spin, b)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self._recompute()
        self._steps += 1
        self._show_steps()

    def reset(self) -> None:
        """The book's values again."""
        for spin, value in ((self.x1_spin, BOOK_X1), (self.w1_spin, BOOK_W1), (self.b_spin, BOOK_B),
                            (self.y_spin, BOOK_Y), (self.lr_spin, BOOK_LR)):
            spin.blockSignals(True)
            spin.setValue(value)
            spin.blockSignals(False)
        self._steps, self._first_loss = 0, None
        self._recompute()

    # --- updating ------------------------------------------------------------------------------------

    def _on_value_changed(self, _value: float) -> None:
        self._steps, self._first_loss = 0, None  # a value set by hand starts a new series of steps
        self._recompute()

    def _recompute(self) -> None:
        if not self._torch_ready:
            self._example = None
            self._show(None)
            return
        self._example = logistic_example(self.x1_spin.value(), self.w1_spin.value(), self.b_spin.value(), self.y_spin.value())
        self._show(self._example)

    def _show(self, ex: LogisticExample | None) -> None:
        self.graph.show_example(ex)
        self.step_button.setEnabled(ex is not None)
        if ex is None:
            for label in (self.z_label, self.a_label, self.grad_w1_label, self.grad_b_label, self.hand_w1_label,
                          self.hand_b_label):
                label.setText("")
            self.loss_label.setText(f"loss = … ({WAITING_TEXT})")
            self.note_label.setText("")
            self._show_steps()
            return
        self.z_label.setText(f"z = x₁·w₁ + b = {_f(ex.z)}")
        self.a_label.setText(f"a = sigmoid(z) = {_f(ex.a)}")
        self.loss_label.setText(f"loss = {_f(ex.loss)}")
        self.loss_label.setToolTip(f"F.binary_cross_entropy(a, y) = {ex.loss!r}")
        self.grad_w1_label.setText(f"dL/dw₁ = {_f(ex.grad_w1)}")
        self.grad_w1_label.setToolTip(f"torch.autograd.grad(loss, w1) = {ex.grad_w1!r}")
        self.grad_b_label.setText(f"dL/db = {_f(ex.grad_b)}")
        self.grad_b_label.setToolTip(f"torch.autograd.grad(loss, b) = {ex.grad_b!r}")
        self.hand_w1_label.setText(f"(a − y)·x₁ = {_f(ex.hand_grad_w1)}")
        self.hand_b_label.setText(f"a − y = {_f(ex.hand_grad_b)}")
        differ = abs(ex.hand_grad_w1 - ex.grad_w1) > 1e-4 or abs(ex.hand_grad_b - ex.grad_b) > 1e-4
        self.note_label.setText(
            "<i>They differ here: σ(z) rounds to exactly 0 or 1 in float32, and binary_cross_entropy clamps its "
            "log, so its gradient vanishes while the formula does not.</i>" if differ else ""
        )
        self._show_steps()
        self.code.setPlainText(self._code(ex))

    def _show_steps(self) -> None:
        ex = self._example
        if self._steps == 0 or ex is None or self._first_loss is None:
            self.steps_label.setText("Press Gradient step to move w₁ and b against their gradients.")
        else:
            self.steps_label.setText(f"After {self._steps} step(s): loss {_f(self._first_loss)} → {_f(ex.loss)}")

    def _code(self, ex: LogisticExample) -> str:
        def v(spin: QDoubleSpinBox) -> str:  # Python's spelling, whatever the locale shows
            text = f"{spin.value():.{DECIMALS}f}".rstrip("0")
            return text + "0" if text.endswith(".") else text

        return (
            f"y = torch.tensor([{v(self.y_spin)}])\n"
            f"x1 = torch.tensor([{v(self.x1_spin)}])\n"
            f"w1 = torch.tensor([{v(self.w1_spin)}], requires_grad=True)\n"
            f"b = torch.tensor([{v(self.b_spin)}], requires_grad=True)\n"
            "z = x1 * w1 + b\n"
            "a = torch.sigmoid(z)\n"
            "loss = F.binary_cross_entropy(a, y)\n"
            "grad_L_w1, grad_L_b = grad(loss, [w1, b])\n"
            f"# loss {_f(ex.loss)}, grads {_f(ex.grad_w1)}, {_f(ex.grad_b)}"
        )
