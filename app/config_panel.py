"""The settings form: one widget per TrainConfig field, read back as a validated TrainConfig."""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QValidator
from PySide6.QtWidgets import (
    QAbstractSpinBox,
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from core.config import (
    ACTIVATIONS,
    GENERATED_DATASETS,
    MAX_LAYER_SIZE,
    MAX_LAYERS,
    MAX_SAMPLES,
    OPTIMIZERS,
    ConfigError,
    DatasetConfig,
    TrainConfig,
)
from core.devices import DeviceInfo, list_devices

INT32_MAX = 2**31 - 1  # QSpinBox holds a C int
INVALID_STYLE = "border: 2px solid #c62828; border-radius: 3px;"

# Shown as each entry's tooltip; the entry itself reads the config's name, as the CLI and files do.
DATASET_DESCRIPTIONS = {
    "appendix-a": "The book's toy set: 5 training and 2 test points, 2 features, 2 classes.",
    "moons": "Two interleaving half circles (2-D, 2 classes).",
    "circles": "A ring around a disc (2-D, 2 classes).",
    "blobs": "Gaussian clusters, one per class (2-D).",
    "xor": "Four quadrants, opposite ones share a class (2-D, 2 classes).",
    "spiral": "Interleaved spiral arms, one per class (2-D).",
    "iris": "150 iris flowers: 4 measurements, 3 species.",
    "digits": "1,797 handwritten digits as 8x8 images: 64 pixel features, 10 classes.",
    "csv": "Your own CSV file: numeric feature columns and a label column.",
}
CLASSES_DATASETS = ("blobs", "spiral")  # the generated sets whose class count can be chosen


def parse_hidden_sizes(text: str) -> tuple[int, ...]:
    """'30, 20' -> (30, 20); '' -> (); ConfigError naming the field and the bad part otherwise."""
    text = text.strip()
    if not text:
        return ()
    parts = [p.strip() for p in re.split(r"[,\s]+", text) if p.strip()]
    sizes = []
    for i, part in enumerate(parts):
        if not part.isdigit():
            raise ConfigError(f"hidden_sizes: {part!r} (layer {i + 1}) is not a whole number; write sizes like 30, 20")
        value = int(part)
        if not 1 <= value <= MAX_LAYER_SIZE:
            raise ConfigError(f"hidden_sizes: layer {i + 1} has {value} units; use 1 to {MAX_LAYER_SIZE}")
        sizes.append(value)
    if len(sizes) > MAX_LAYERS:
        raise ConfigError(f"hidden_sizes: at most {MAX_LAYERS} hidden layers, got {len(sizes)}")
    return tuple(sizes)


def format_hidden_sizes(sizes: Sequence[int]) -> str:
    return ", ".join(str(s) for s in sizes)


def ladder_step(value: float, steps: int, low: float, high: float) -> float:
    """Move `steps` rungs along 1, 2, 5 x 10^n (a log-ish ladder that suits learning rates)."""
    for _ in range(abs(steps)):
        if value <= 0:
            value = low
            continue
        e = math.floor(math.log10(value))
        rungs = sorted(float(f"{m * 10.0 ** k:.12g}") for k in (e - 1, e, e + 1) for m in (1, 2, 5))
        if steps > 0:
            value = next(r for r in rungs if r > value * (1 + 1e-9))
        else:
            value = next(r for r in reversed(rungs) if r < value * (1 - 1e-9))
        value = min(max(value, low), high)
    return value


class LearningRateSpinBox(QDoubleSpinBox):
    """A learning rate from 1e-5 to 10: shows 0.5 or 0.00001 (no trailing zeros), accepts 1e-3, steps 1-2-5."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setDecimals(6)
        self.setRange(1e-5, 10.0)
        self.setCorrectionMode(QAbstractSpinBox.CorrectionMode.CorrectToNearestValue)

    def stepBy(self, steps: int) -> None:
        self.setValue(ladder_step(self.value(), steps, self.minimum(), self.maximum()))
        self.selectAll()

    def textFromValue(self, value: float) -> str:
        text = f"{value:.6f}".rstrip("0").rstrip(".")
        return text or "0"

    def valueFromText(self, text: str) -> float:
        try:
            return float(text.strip())
        except ValueError:
            return self.value()

    def validate(self, text: str, pos: int):
        t = text.strip()
        try:
            v = float(t)
        except ValueError:
            ok_so_far = re.fullmatch(r"[0-9]*\.?[0-9]*([eE][-+]?[0-9]*)?", t) is not None
            return (QValidator.State.Intermediate if ok_so_far else QValidator.State.Invalid), text, pos
        if self.minimum() <= v <= self.maximum():
            return QValidator.State.Acceptable, text, pos
        return QValidator.State.Intermediate, text, pos


class ConfigPanel(QWidget):
    """Every TrainConfig field as a control; `config()` reads them back, `set_config()` fills them.

    Invalid input (e.g. hidden sizes "30, x") marks the field in red and says what is wrong under
    the form; `config()` then raises ConfigError with the same message.
    """

    changed = Signal()  # any setting changed (also fired once by set_config)

    def __init__(self, devices: Sequence[DeviceInfo] | Callable[[], Sequence[DeviceInfo]] | None = None, parent=None):
        super().__init__(parent)
        self.setObjectName("configPanel")
        if devices is None:
            devices = list_devices()
        elif callable(devices):
            devices = devices()
        self._devices = list(devices)
        self._fields: dict[str, QWidget] = {}  # config key -> its control, to point at a wrong field
        self._build()
        self.set_config(TrainConfig())

    # --- building ---------------------------------------------------------------------------------

    def _control(self, widget: QWidget, name: str, key: str, accessible: str, tooltip: str) -> QWidget:
        widget.setObjectName(name)
        widget.setAccessibleName(accessible)
        widget.setToolTip(tooltip)
        widget.setAccessibleDescription(tooltip)
        self._fields[key] = widget
        return widget

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)

        # Data ---------------------------------------------------------------------------------
        data_box = QGroupBox("Data")
        self._data_form = form = QFormLayout(data_box)
        self.dataset_combo = self._control(
            QComboBox(), "datasetCombo", "dataset.name", "Data set",
            "Which data to train on. appendix-a is the book's toy set: 5 training and 2 test points, "
            "2 features, 2 classes. The generated sets are 2-D so you can watch the decision regions form.",
        )
        for name, description in DATASET_DESCRIPTIONS.items():
            self.dataset_combo.addItem(name, name)
            self.dataset_combo.setItemData(self.dataset_combo.count() - 1, description, Qt.ItemDataRole.ToolTipRole)
        form.addRow("Data set", self.dataset_combo)
        self.samples_spin = self._control(
            QSpinBox(), "samplesSpin", "dataset.samples", "Samples",
            "How many points to generate, training and test split together.",
        )
        self.samples_spin.setRange(4, MAX_SAMPLES)
        self.samples_spin.setSingleStep(100)
        self.samples_spin.setGroupSeparatorShown(True)
        form.addRow("Samples", self.samples_spin)
        self.noise_spin = self._control(
            QDoubleSpinBox(), "noiseSpin", "dataset.noise", "Noise",
            "How much random jitter is added to every generated point (a standard deviation). "
            "More noise makes the classes overlap, so they are harder to separate.",
        )
        self.noise_spin.setRange(0.0, 10.0)
        self.noise_spin.setDecimals(3)
        self.noise_spin.setSingleStep(0.05)
        form.addRow("Noise", self.noise_spin)
        self.classes_spin = self._control(
            QSpinBox(), "classesSpin", "dataset.classes", "Classes",
            "How many classes to generate: clusters for blobs, arms for spiral.",
        )
        self.classes_spin.setRange(2, 100)
        form.addRow("Classes", self.classes_spin)
        self.test_fraction_spin = self._control(
            QDoubleSpinBox(), "testFractionSpin", "dataset.test_fraction", "Test fraction",
            "Share of the samples held out as the test split. The model never trains on them, "
            "so their accuracy shows how well it does on data it has not seen.",
        )
        self.test_fraction_spin.setRange(0.0, 0.9)
        self.test_fraction_spin.setDecimals(2)
        self.test_fraction_spin.setSingleStep(0.05)
        form.addRow("Test fraction", self.test_fraction_spin)
        self.data_seed_spin = self._control(
            QSpinBox(), "dataSeedSpin", "dataset.seed", "Data seed",
            "Seed for generating the points and choosing the test split. It is separate from the model's "
            "seed, so trying another model seed keeps the same data.",
        )
        self.data_seed_spin.setRange(0, INT32_MAX)
        form.addRow("Data seed", self.data_seed_spin)
        self.csv_path_edit = self._control(
            QLineEdit(), "csvPathEdit", "dataset.path", "CSV file",
            "The CSV file to train on: a header row, numeric feature columns and one label column.",
        )
        self.csv_path_edit.setPlaceholderText("choose a .csv file")
        self.csv_browse_button = QPushButton("Choose…")
        self.csv_browse_button.setObjectName("csvBrowseButton")
        self.csv_browse_button.setAccessibleName("Choose CSV file")
        self.csv_browse_button.setToolTip("Pick the CSV file to train on.")
        self.csv_browse_button.clicked.connect(self._browse_csv)
        csv_row = QWidget()
        csv_layout = QHBoxLayout(csv_row)
        csv_layout.setContentsMargins(0, 0, 0, 0)
        csv_layout.addWidget(self.csv_path_edit, 1)
        csv_layout.addWidget(self.csv_browse_button)
        self._csv_row = csv_row
        form.addRow("CSV file", csv_row)
        self.label_column_edit = self._control(
            QLineEdit(), "labelColumnEdit", "dataset.label_column", "Label column",
            "Name of the CSV column that holds the class label. Empty means the last column.",
        )
        self.label_column_edit.setPlaceholderText("last column")
        form.addRow("Label column", self.label_column_edit)
        self.standardize_check = self._control(
            QCheckBox("Standardize features"), "standardizeCheck", "dataset.standardize", "Standardize features",
            "Shift and scale every feature to mean 0 and standard deviation 1, using the training split's "
            "statistics. It helps when features have very different ranges (e.g. digits' 0-16 pixels).",
        )
        form.addRow(self.standardize_check)
        outer.addWidget(data_box)

        # Model --------------------------------------------------------------------------------
        model_box = QGroupBox("Model")
        form = QFormLayout(model_box)
        self.hidden_sizes_edit = self._control(
            QLineEdit(), "hiddenSizesEdit", "hidden_sizes", "Hidden layer sizes",
            "Units in each hidden layer, comma separated: '30, 20' is the book's network (30 units, then 20). "
            "Empty means no hidden layer at all: logistic regression.",
        )
        self.hidden_sizes_edit.setPlaceholderText("none (logistic regression)")
        self.add_layer_button = QPushButton("+")
        self.add_layer_button.setObjectName("addLayerButton")
        self.add_layer_button.setAccessibleName("Add hidden layer")
        self.add_layer_button.setToolTip("Add a hidden layer at the end, as wide as the last one.")
        self.add_layer_button.clicked.connect(self._add_layer)
        self.remove_layer_button = QPushButton("−")
        self.remove_layer_button.setObjectName("removeLayerButton")
        self.remove_layer_button.setAccessibleName("Remove hidden layer")
        self.remove_layer_button.setToolTip("Remove the last hidden layer.")
        self.remove_layer_button.clicked.connect(self._remove_layer)
        for b in (self.add_layer_button, self.remove_layer_button):
            b.setFixedWidth(32)
        hidden_row = QWidget()
        hl = QHBoxLayout(hidden_row)
        hl.setContentsMargins(0, 0, 0, 0)
        hl.addWidget(self.hidden_sizes_edit, 1)
        hl.addWidget(self.add_layer_button)
        hl.addWidget(self.remove_layer_button)
        form.addRow("Hidden sizes", hidden_row)
        self.activation_combo = self._control(
            QComboBox(), "activationCombo", "activation", "Activation",
            "The non-linearity after each hidden layer. The book uses ReLU. 'identity' makes the whole "
            "network linear, whatever its depth.",
        )
        for a in ACTIVATIONS:
            self.activation_combo.addItem(a, a)
        form.addRow("Activation", self.activation_combo)
        outer.addWidget(model_box)

        # Optimizer -----------------------------------------------------------------------------
        opt_box = QGroupBox("Optimizer")
        form = QFormLayout(opt_box)
        self.optimizer_combo = self._control(
            QComboBox(), "optimizerCombo", "optimizer", "Optimizer",
            "How the weights move after each batch's backward(): SGD (the book's choice) steps straight "
            "against the gradient; Adam and AdamW adapt the step size for every weight.",
        )
        for o in OPTIMIZERS:
            self.optimizer_combo.addItem(o, o)
        form.addRow("Optimizer", self.optimizer_combo)
        self.learning_rate_spin = self._control(
            LearningRateSpinBox(), "learningRateSpin", "learning_rate", "Learning rate",
            "How big a step the optimizer takes after each batch. Too large and the loss jumps around or "
            "blows up; too small and learning crawls. The book uses 0.5 with SGD; Adam likes about 0.001. "
            "The arrows step through 0.001, 0.002, 0.005, 0.01, ...",
        )
        form.addRow("Learning rate", self.learning_rate_spin)
        self.momentum_spin = self._control(
            QDoubleSpinBox(), "momentumSpin", "momentum", "Momentum",
            "SGD only: how much of the previous step carries into the next one, which smooths and speeds up "
            "the descent. 0 is plain SGD, as in the book.",
        )
        self.momentum_spin.setRange(0.0, 0.999)
        self.momentum_spin.setDecimals(3)
        self.momentum_spin.setSingleStep(0.1)
        form.addRow("Momentum", self.momentum_spin)
        self.weight_decay_spin = self._control(
            QDoubleSpinBox(), "weightDecaySpin", "weight_decay", "Weight decay",
            "Pulls every weight a little towards zero at each step (L2 regularization), which fights "
            "overfitting. 0 means none, as in the book.",
        )
        self.weight_decay_spin.setRange(0.0, 1.0)
        self.weight_decay_spin.setDecimals(5)
        self.weight_decay_spin.setSingleStep(0.0001)
        form.addRow("Weight decay", self.weight_decay_spin)
        outer.addWidget(opt_box)

        # Training ------------------------------------------------------------------------------
        train_box = QGroupBox("Training")
        form = QFormLayout(train_box)
        self.batch_size_spin = self._control(
            QSpinBox(), "batchSizeSpin", "batch_size", "Batch size",
            "How many samples go through the network before each weight update (DataLoader's batch_size). "
            "The book uses 2.",
        )
        self.batch_size_spin.setRange(1, MAX_SAMPLES)
        form.addRow("Batch size", self.batch_size_spin)
        self.shuffle_check = self._control(
            QCheckBox("Shuffle every epoch"), "shuffleCheck", "shuffle", "Shuffle every epoch",
            "Reshuffle the training samples before every epoch (DataLoader's shuffle=True), so the batches "
            "differ from epoch to epoch and the model cannot learn from their order. Test data is never shuffled.",
        )
        form.addRow(self.shuffle_check)
        self.drop_last_check = self._control(
            QCheckBox("Drop last incomplete batch"), "dropLastCheck", "drop_last", "Drop last incomplete batch",
            "Skip an epoch's last batch when it has fewer samples than the batch size (DataLoader's "
            "drop_last=True). With the book's 5 samples and batch size 2 the fifth sample is left out: "
            "2 batches per epoch instead of 3, and with shuffling a different sample each time. A tiny last "
            "batch gives a noisy update.",
        )
        form.addRow(self.drop_last_check)
        self.num_workers_spin = self._control(
            QSpinBox(), "numWorkersSpin", "num_workers", "Data loader workers",
            "Worker processes that load batches (DataLoader's num_workers). 0 loads them in the training "
            "thread, which is the fastest for data already in memory, as here; more only adds start-up time.",
        )
        self.num_workers_spin.setRange(0, 64)
        form.addRow("Loader workers", self.num_workers_spin)
        self.epochs_spin = self._control(
            QSpinBox(), "epochsSpin", "epochs", "Epochs",
            "How many passes over the training data. When you continue training, this many more.",
        )
        self.epochs_spin.setRange(1, 1_000_000)
        self.epochs_spin.setGroupSeparatorShown(True)
        form.addRow("Epochs", self.epochs_spin)
        self.seed_spin = self._control(
            QSpinBox(), "seedSpin", "seed", "Random seed",
            "torch.manual_seed(seed) runs right before the model is built, as in the book: the same seed gives "
            "the same starting weights and the same shuffles, so the same curve. The book uses 123.",
        )
        self.seed_spin.setRange(0, INT32_MAX)
        form.addRow("Seed", self.seed_spin)
        self.device_combo = self._control(
            QComboBox(), "deviceCombo", "device", "Device",
            "Where the tensors live and the math runs: the CPU, an NVIDIA GPU (cuda:N) or an Apple GPU (mps). "
            "Greyed-out devices are not available on this machine; point at one to see why.",
        )
        self._fill_devices()
        form.addRow("Device", self.device_combo)
        outer.addWidget(train_box)

        self.error_label = QLabel("")
        self.error_label.setObjectName("configErrorLabel")
        self.error_label.setAccessibleName("Settings error")
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #c62828;")
        self.error_label.hide()
        outer.addWidget(self.error_label)
        outer.addStretch(1)

        for w in self._fields.values():
            signal = None
            if isinstance(w, QComboBox):
                signal = w.currentIndexChanged
            elif isinstance(w, (QSpinBox, QDoubleSpinBox)):
                signal = w.valueChanged
            elif isinstance(w, QCheckBox):
                signal = w.toggled
            elif isinstance(w, QLineEdit):
                signal = w.textChanged
            if signal is not None:
                signal.connect(self._on_changed)

    def set_devices(self, devices: Sequence[DeviceInfo], prefer: str | None = None) -> None:
        """Offer these devices (the real list, once torch has loaded); keep the current choice if it is
        still offered, else take `prefer` (a device name) when it is usable, else cpu."""
        combo = self.device_combo
        current = combo.currentData()
        self._devices = list(devices)
        combo.blockSignals(True)
        try:
            combo.clear()
            self._fill_devices()
        finally:
            combo.blockSignals(False)
        for name in (prefer, current):
            if name and combo.findData("cuda:0" if name == "cuda" else name) >= 0 and not self._select_device(name):
                break
        else:
            self._select_device("cpu")
        self._on_changed()

    def _fill_devices(self) -> None:
        combo = self.device_combo
        model = combo.model()
        for d in self._devices:
            combo.addItem(d.label, d.name)
            i = combo.count() - 1
            if not d.available:
                model.item(i).setEnabled(False)
                combo.setItemData(i, f"{d.label}: not available: {d.reason}", Qt.ItemDataRole.ToolTipRole)
            else:
                combo.setItemData(i, f"Train on {d.label}", Qt.ItemDataRole.ToolTipRole)
        combo.addItem("auto (best available)", "auto")
        combo.setItemData(combo.count() - 1, "The first GPU if there is one, else the CPU.", Qt.ItemDataRole.ToolTipRole)

    # --- reading and writing ----------------------------------------------------------------------

    def devices(self) -> list[DeviceInfo]:
        return list(self._devices)

    def config(self) -> TrainConfig:
        """The settings as a validated TrainConfig; ConfigError (naming the field) when one is wrong."""
        hidden = parse_hidden_sizes(self.hidden_sizes_edit.text())
        name = self.dataset_combo.currentData()
        path = self.csv_path_edit.text().strip() or None
        label = self.label_column_edit.text().strip() or None
        ds = DatasetConfig(
            name=name,
            samples=self.samples_spin.value(),
            noise=round(self.noise_spin.value(), 6),
            classes=self.classes_spin.value(),
            test_fraction=round(self.test_fraction_spin.value(), 6),
            seed=self.data_seed_spin.value(),
            path=path,
            label_column=label,
            standardize=self.standardize_check.isChecked(),
        )
        cfg = TrainConfig(
            dataset=ds,
            hidden_sizes=hidden,
            activation=self.activation_combo.currentData(),
            optimizer=self.optimizer_combo.currentData(),
            learning_rate=round(self.learning_rate_spin.value(), 10),
            momentum=round(self.momentum_spin.value(), 6),
            weight_decay=round(self.weight_decay_spin.value(), 10),
            batch_size=self.batch_size_spin.value(),
            shuffle=self.shuffle_check.isChecked(),
            drop_last=self.drop_last_check.isChecked(),
            num_workers=self.num_workers_spin.value(),
            epochs=self.epochs_spin.value(),
            seed=self.seed_spin.value(),
            device=self.device_combo.currentData(),
        )
        return cfg.validate()

    def set_config(self, cfg: TrainConfig) -> list[str]:
        """Fill every control from `cfg`; returns notes on values the form had to change (e.g. a missing device)."""
        notes: list[str] = []
        widgets = list(self._fields.values())
        for w in widgets:
            w.blockSignals(True)
        try:
            ds = cfg.dataset
            _select(self.dataset_combo, ds.name)
            self.samples_spin.setValue(min(ds.samples, self.samples_spin.maximum()))
            self.noise_spin.setValue(ds.noise)
            self.classes_spin.setValue(ds.classes)
            self.test_fraction_spin.setValue(ds.test_fraction)
            if ds.seed > INT32_MAX:
                notes.append(f"the data seed {ds.seed} is larger than the form takes; using {ds.seed % (INT32_MAX + 1)}")
            self.data_seed_spin.setValue(ds.seed % (INT32_MAX + 1))
            self.csv_path_edit.setText(ds.path or "")
            self.label_column_edit.setText(ds.label_column or "")
            self.standardize_check.setChecked(ds.standardize)
            self.hidden_sizes_edit.setText(format_hidden_sizes(cfg.hidden_sizes))
            _select(self.activation_combo, cfg.activation)
            _select(self.optimizer_combo, cfg.optimizer)
            self.learning_rate_spin.setValue(cfg.learning_rate)
            self.momentum_spin.setValue(cfg.momentum)
            self.weight_decay_spin.setValue(cfg.weight_decay)
            self.batch_size_spin.setValue(cfg.batch_size)
            self.shuffle_check.setChecked(cfg.shuffle)
            self.drop_last_check.setChecked(cfg.drop_last)
            self.num_workers_spin.setValue(cfg.num_workers)
            self.epochs_spin.setValue(cfg.epochs)
            if cfg.seed > INT32_MAX:
                notes.append(f"the seed {cfg.seed} is larger than the form takes; using {cfg.seed % (INT32_MAX + 1)}")
            self.seed_spin.setValue(cfg.seed % (INT32_MAX + 1))
            notes += self._select_device(cfg.device)
        finally:
            for w in widgets:
                w.blockSignals(False)
        self._on_changed()
        return notes

    def _select_device(self, name: str) -> list[str]:
        combo = self.device_combo
        want = "cuda:0" if name == "cuda" else name
        i = combo.findData(want)
        if i < 0 and name == "cuda":
            i = combo.findData("cuda")
        usable = i >= 0 and combo.model().item(i).isEnabled()
        if usable:
            combo.setCurrentIndex(i)
            return []
        combo.setCurrentIndex(combo.findData("cpu"))
        return [f"device {name} is not available here, so the form uses cpu"]

    def set_running(self, running: bool) -> None:
        """Nothing of a run can change while it trains."""
        for w in self.findChildren(QGroupBox):
            w.setEnabled(not running)

    # --- checks and visibility --------------------------------------------------------------------

    def validation_error(self) -> str | None:
        try:
            self.config()
        except ConfigError as exc:
            return str(exc)
        return None

    def field_widget(self, key: str) -> QWidget | None:
        return self._fields.get(key)

    def _on_changed(self, *_args) -> None:
        self._update_applicable()
        self._show_validation()
        self.changed.emit()

    def _show_validation(self) -> None:
        error = self.validation_error()
        bad_key = _error_key(error) if error else None
        for key, w in self._fields.items():
            w.setStyleSheet(INVALID_STYLE if key == bad_key else "")
        self.error_label.setText(error or "")
        self.error_label.setVisible(bool(error))

    def _update_applicable(self) -> None:
        name = self.dataset_combo.currentData()
        generated = name in GENERATED_DATASETS
        form = self._data_form
        form.setRowVisible(self.samples_spin, generated)
        form.setRowVisible(self.noise_spin, generated)
        form.setRowVisible(self.classes_spin, name in CLASSES_DATASETS)
        # The book fixes appendix-a's split; every other set is split with the data seed.
        form.setRowVisible(self.test_fraction_spin, name != "appendix-a")
        form.setRowVisible(self.data_seed_spin, name != "appendix-a")
        form.setRowVisible(self._csv_row, name == "csv")
        form.setRowVisible(self.label_column_edit, name == "csv")
        sgd = self.optimizer_combo.currentData() == "sgd"
        self.momentum_spin.setEnabled(sgd)
        if not sgd:
            self.momentum_spin.setToolTip("Momentum applies to SGD only; Adam and AdamW keep their own running averages.")
        else:
            self.momentum_spin.setToolTip(self.momentum_spin.accessibleDescription())
        self.remove_layer_button.setEnabled(bool(self.hidden_sizes_edit.text().strip()))

    # --- buttons ----------------------------------------------------------------------------------

    def _add_layer(self) -> None:
        try:
            sizes = list(parse_hidden_sizes(self.hidden_sizes_edit.text()))
        except ConfigError:
            return  # the field already says what is wrong
        if len(sizes) >= MAX_LAYERS:
            return
        sizes.append(sizes[-1] if sizes else 10)
        self.hidden_sizes_edit.setText(format_hidden_sizes(sizes))

    def _remove_layer(self) -> None:
        try:
            sizes = list(parse_hidden_sizes(self.hidden_sizes_edit.text()))
        except ConfigError:
            return
        self.hidden_sizes_edit.setText(format_hidden_sizes(sizes[:-1]))

    def _browse_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a CSV file", self.csv_path_edit.text(), "CSV files (*.csv);;All files (*)"
        )
        if path:
            self.csv_path_edit.setText(path)


def _select(combo: QComboBox, data: str) -> None:
    i = combo.findData(data)
    if i >= 0:
        combo.setCurrentIndex(i)


def _error_key(message: str) -> str | None:
    """The config key a ConfigError message starts with ('hidden_sizes[1] must ...' -> 'hidden_sizes')."""
    m = re.match(r"([a-z_]+(?:\.[a-z_]+)?)", message)
    return m.group(1) if m else None
