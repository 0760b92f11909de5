"""The settings form's layout facts: design.md's objectNames per setting, its groups, placeholders, and small helpers."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QComboBox, QHBoxLayout, QPushButton, QWidget

from app.panels.config_widgets import format_hidden_sizes, parse_hidden_sizes
from core.config import SETTINGS_BY_KEY, ConfigError, TrainConfig
from core.devices import DeviceInfo

INVALID_STYLE = "border: 2px solid #c62828; border-radius: 3px;"

# design.md's objectNames, one per setting; the table gives each its kind, range, label and help.
OBJECT_NAMES = {
    "dataset.name": "datasetCombo", "dataset.samples": "samplesSpin", "dataset.noise": "noiseSpin",
    "dataset.classes": "classesSpin", "dataset.test_fraction": "testFractionSpin", "dataset.seed": "dataSeedSpin",
    "dataset.path": "csvPathEdit", "dataset.label_column": "labelColumnEdit", "dataset.standardize": "standardizeCheck",
    "hidden_sizes": "hiddenSizesEdit", "activation": "activationCombo", "optimizer": "optimizerCombo",
    "learning_rate": "learningRateSpin", "momentum": "momentumSpin", "weight_decay": "weightDecaySpin",
    "batch_size": "batchSizeSpin", "shuffle": "shuffleCheck", "drop_last": "dropLastCheck",
    "num_workers": "numWorkersSpin", "epochs": "epochsSpin", "seed": "seedSpin", "device": "deviceCombo",
}
GROUPS = {"hidden_sizes": "Model", "activation": "Model", "optimizer": "Optimizer", "learning_rate": "Optimizer",
          "momentum": "Optimizer", "weight_decay": "Optimizer"}  # dataset.* -> Data; the rest -> Training
PLACEHOLDERS = {"dataset.path": "choose a .csv file", "dataset.label_column": "last column",
                "hidden_sizes": "none (logistic regression)"}
BOOK_TOOLTIP = ("Go back to the book's run: the appendix-a data, hidden sizes 30, 20 with ReLU, SGD with learning "
                "rate 0.5, batch size 2, shuffle and drop_last on, 3 epochs, seed 123. The device stays as chosen.")


# The dataset.* settings a data set may or may not take (shown only for those that do).
DATASET_OPTION_KEYS = ("dataset.samples", "dataset.noise", "dataset.classes", "dataset.test_fraction", "dataset.seed",
                       "dataset.path", "dataset.label_column")


def _get(cfg: TrainConfig, key: str):
    """A config's value by dotted key ("dataset.noise")."""
    value = cfg
    for part in key.split("."):
        value = getattr(value, part)
    return value


def _row(*widgets: QWidget) -> QWidget:
    row = QWidget()
    layout = QHBoxLayout(row)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(widgets[0], 1)
    for w in widgets[1:]:
        layout.addWidget(w)
    return row


def make_button(name: str, text: str, accessible: str, tooltip: str) -> QPushButton:
    button = QPushButton(text)
    button.setObjectName(name)
    button.setAccessibleName(accessible)
    button.setToolTip(tooltip)
    return button


def fill_devices(combo: QComboBox, devices: list[DeviceInfo]) -> None:
    """Every device, the unavailable ones disabled with the reason as tooltip, then "auto"."""
    model = combo.model()
    for d in devices:
        combo.addItem(d.label, d.name)
        i = combo.count() - 1
        if not d.available:
            model.item(i).setEnabled(False)
            combo.setItemData(i, f"{d.label}: not available: {d.reason}", Qt.ItemDataRole.ToolTipRole)
        else:
            combo.setItemData(i, f"Train on {d.label}", Qt.ItemDataRole.ToolTipRole)
    combo.addItem("auto (best available)", "auto")
    combo.setItemData(combo.count() - 1, "The first GPU if there is one, else the CPU.", Qt.ItemDataRole.ToolTipRole)


def select_device(combo: QComboBox, name: str) -> tuple[list[str], str | None]:
    """Choose `name` (cuda means cuda:0) when it is offered and usable, else cpu: the notes on what the form had
    to change, and the alias the config wrote ("cuda", shown as cuda:0) or None."""
    want = "cuda:0" if name == "cuda" else name
    i = combo.findData(want)
    if i < 0 and name == "cuda":
        i = combo.findData("cuda")
    if i >= 0 and combo.model().item(i).isEnabled():
        combo.setCurrentIndex(i)
        return [], (name if name != want else None)
    combo.setCurrentIndex(combo.findData("cpu"))
    return [f"device {name} is not available here, so the form uses cpu"], None


def layers_changed(text: str, change: int) -> str:
    """The hidden sizes' text with a layer added at the end (as wide as the last) or the last removed; the
    text as it was when it is not sizes (the field says what is wrong) or no layer more fits."""
    try:
        sizes = list(parse_hidden_sizes(text))
    except ConfigError:
        return text
    if change > 0:
        if len(sizes) >= SETTINGS_BY_KEY["hidden_sizes"].max_items:
            return text
        sizes.append(sizes[-1] if sizes else 10)
    else:
        sizes = sizes[:-1]
    return format_hidden_sizes(sizes)
