"""The Model panel: print(model) for the current settings, its layers' shapes and parameter counts, the device, and where train()/eval() happen."""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtCore import Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QPlainTextEdit,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.panels.appendix._common import (
    INVALID_TEXT,
    WAITING_TEXT,
    DataInfo,
    DataSource,
    error_text,
    monospace_font,
    note_label,
    torch_loaded,
)
from app.run.tasks import TaskRunner
from core.config import TrainConfig, model_shape_bounds

COLUMNS = ("Module", "Layer", "Weight shape", "Bias shape", "Parameters")
MODES_TEXT = (
    "<b>model.train()</b> runs at the start of every epoch, before its batches: the model is in training mode while "
    "<code>zero_grad()</code>, <code>backward()</code> and <code>step()</code> update it. "
    "<b>model.eval()</b> with <b>torch.no_grad()</b> runs at each epoch's end, to measure the train and test accuracy, "
    "and for every prediction (the Predictions table, Predict): no gradients are recorded there, which saves memory "
    "and time. This network has no dropout or batch-norm layer, so the two modes compute the same outputs here; in "
    "networks that have them, they differ."
)


@dataclass(frozen=True)
class LayerRow:
    name: str  # "layers.0"
    kind: str  # "Linear", "ReLU"
    weight_shape: tuple[int, ...] | None
    bias_shape: tuple[int, ...] | None
    parameters: int


@dataclass(frozen=True)
class ModelSummary:
    """What print(model) shows and what each layer holds (Qt-free)."""

    inputs: int
    outputs: int
    hidden_sizes: tuple[int, ...]
    activation: str
    text: str  # print(model)
    rows: tuple[LayerRow, ...]
    total: int


def model_summary(inputs: int, outputs: int, hidden_sizes, activation: str) -> ModelSummary:
    """The book's NeuralNetwork for these sizes, built on torch's meta device: shapes without memory or random draws."""
    import torch

    from core.model import NeuralNetwork

    with torch.device("meta"):
        model = NeuralNetwork(inputs, outputs, tuple(hidden_sizes), activation)
    rows = []
    for name, module in model.layers.named_children():
        params = dict(module.named_parameters(recurse=False))
        w, b = params.get("weight"), params.get("bias")
        rows.append(LayerRow(
            name=f"layers.{name}", kind=type(module).__name__,
            weight_shape=tuple(w.shape) if w is not None else None,
            bias_shape=tuple(b.shape) if b is not None else None,
            parameters=sum(p.numel() for p in params.values()),
        ))
    total = sum(p.numel() for p in model.parameters())
    return ModelSummary(inputs, outputs, tuple(hidden_sizes), activation, str(model), tuple(rows), total)


def _shape(shape: tuple[int, ...] | None) -> str:
    return "—" if shape is None else "(" + ", ".join(map(str, shape)) + ")"


class ModelPanel(QWidget):
    """The network the current settings build: `print(model)`, a table of its layers, the total, the device."""

    def __init__(self, runner: TaskRunner | None = None, source: DataSource | None = None,
                 parent: QWidget | None = None, *, torch_ready: bool | None = None):
        super().__init__(parent)
        self.setObjectName("modelPanel")
        self._own_runner = runner is None
        self.runner = runner if runner is not None else TaskRunner(self)
        self.source = source if source is not None else DataSource(self.runner)
        self._torch_ready = torch_loaded() if torch_ready is None else torch_ready
        self._cfg: TrainConfig | None = None
        self._device_text = ""
        self._summary: ModelSummary | None = None

        self.summary_label = note_label(name="modelSummaryLabel", accessible="Model summary")
        self.print_text = QPlainTextEdit()
        self.print_text.setObjectName("modelPrintText")
        self.print_text.setAccessibleName("print(model)")
        self.print_text.setToolTip("What print(model) shows for the network these settings build.")
        self.print_text.setReadOnly(True)
        self.print_text.setFont(monospace_font())
        self.print_text.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.table = QTableWidget(0, len(COLUMNS))
        self.table.setObjectName("modelParamsTable")
        self.table.setAccessibleName("Layers and parameters")
        self.table.setToolTip(
            "Each module of model.layers: a Linear layer holds a weight of shape (out, in) and a bias of shape (out,), "
            "so out·in + out parameters; an activation holds none."
        )
        self.table.setHorizontalHeaderLabels(COLUMNS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.verticalHeader().setVisible(False)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.total_label = note_label(name="modelTotalLabel", accessible="Total parameters")
        self.device_label = note_label(name="modelDeviceLabel", accessible="Device")
        self.modes_label = note_label(MODES_TEXT, name="modelModesLabel", accessible="train() and eval()")
        split = QSplitter(Qt.Orientation.Horizontal)
        split.addWidget(self.print_text)
        split.addWidget(self.table)
        split.setStretchFactor(0, 1)
        split.setStretchFactor(1, 1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.summary_label)
        layout.addWidget(split, 1)
        layout.addWidget(self.total_label)
        layout.addWidget(self.device_label)
        layout.addWidget(self.modes_label)
        self.set_config(None)

    # --- public API ----------------------------------------------------------------------------------

    def set_config(self, cfg: TrainConfig | None) -> None:
        """Show the network `cfg` builds; None: the settings are not valid."""
        self._cfg = cfg
        self._show_device()
        if cfg is None:
            self._clear(INVALID_TEXT)
            return
        if not self._torch_ready:
            self._clear(WAITING_TEXT)
            return
        if cfg.dataset.name == "csv":  # the file says how many features and classes
            if self.source.cached(cfg.dataset) is None:
                self._clear("Reading the CSV file…")
            self.source.request(cfg.dataset, self, lambda info: self._from_data(cfg, info), self._failed)
            return
        self.source.forget(self)
        inputs, outputs = model_shape_bounds(cfg.dataset)
        self.show_architecture(inputs, outputs, cfg.hidden_sizes, cfg.activation)

    def set_device_text(self, text: str) -> None:
        """The device the run uses as the window words it (e.g. "cuda:0"); empty: the settings' device."""
        self._device_text = text
        self._show_device()

    def set_torch_ready(self) -> None:
        if not self._torch_ready:
            self._torch_ready = True
            self.set_config(self._cfg)

    def show_architecture(self, inputs: int, outputs: int, hidden_sizes, activation: str = "relu") -> None:
        """Show the network with these sizes (inline: built on the meta device, it costs a millisecond)."""
        s = self._summary
        if s is not None and (s.inputs, s.outputs, s.hidden_sizes, s.activation) == (inputs, outputs, tuple(hidden_sizes), activation):
            return
        self._show(model_summary(inputs, outputs, hidden_sizes, activation))

    def summary(self) -> ModelSummary | None:
        return self._summary

    def total_parameters(self) -> int | None:
        return None if self._summary is None else self._summary.total

    def shutdown(self) -> None:
        if self._own_runner:
            self.runner.shutdown()

    def closeEvent(self, event) -> None:  # noqa: N802
        self.shutdown()
        super().closeEvent(event)

    # --- updating ------------------------------------------------------------------------------------

    def _from_data(self, cfg: TrainConfig, info: DataInfo) -> None:
        if cfg is self._cfg:
            self.show_architecture(info.num_features, info.num_classes, cfg.hidden_sizes, cfg.activation)

    def _failed(self, exc: BaseException) -> None:
        self._clear(f"The model cannot be shown: {error_text(exc)}")

    def _clear(self, message: str) -> None:
        self._summary = None
        self.summary_label.setText(message)
        self.print_text.setPlainText("")
        self.table.setRowCount(0)
        self.total_label.setText("")
        self._show_device()

    def _show(self, s: ModelSummary) -> None:
        self._summary = s
        sizes = " → ".join(map(str, (s.inputs, *s.hidden_sizes, s.outputs)))
        activation = s.rows[1].kind if len(s.rows) > 1 else s.activation  # its class name: ReLU, Tanh, ...
        hidden = (f"{activation} after each of the {len(s.hidden_sizes)} hidden layer(s)" if s.hidden_sizes
                  else "no hidden layer: logistic regression")
        self.summary_label.setText(
            f"<b>model = NeuralNetwork(num_inputs={s.inputs}, num_outputs={s.outputs})</b>: "
            f"{sizes} units, {hidden}. Its weights start from torch.manual_seed(seed) right before it is built."
        )
        self.print_text.setPlainText(s.text)
        self.table.setRowCount(len(s.rows) + 1)
        right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
        for r, row in enumerate(s.rows):
            cells = (row.name, row.kind, _shape(row.weight_shape), _shape(row.bias_shape), f"{row.parameters:,}")
            for c, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if c == len(cells) - 1:
                    item.setTextAlignment(right)
                self.table.setItem(r, c, item)
        bold = QFont(self.table.font())
        bold.setBold(True)
        for c, text in enumerate(("Total", "", "", "", f"{s.total:,}")):
            item = QTableWidgetItem(text)
            item.setFont(bold)
            if c == len(COLUMNS) - 1:
                item.setTextAlignment(right)
            self.table.setItem(len(s.rows), c, item)
        self.total_label.setText(
            f"Total: <b>{s.total:,}</b> trainable parameters (sum(p.numel() for p in model.parameters() "
            f"if p.requires_grad)), {s.total * 4 / 1024:,.1f} KiB as float32."
        )
        self._show_device()

    def _show_device(self) -> None:
        cfg = self._cfg
        if cfg is None:
            self.device_label.setText("")
            return
        device = self._device_text or cfg.device
        where = " (auto: cuda:0 if there is a CUDA GPU, else mps on a Mac, else cpu)" if device == "auto" else ""
        count = f"all {self._summary.total:,} parameters" if self._summary is not None else "the parameters"
        self.device_label.setText(
            f"<b>Device: {device}</b>{where}. <code>model.to(device)</code> moves {count} there before training, "
            "and each batch follows with <code>features.to(device)</code>, <code>labels.to(device)</code>."
        )
