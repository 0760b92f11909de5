"""The settings form: a control per row of core.config's SETTINGS table, read back as a validated TrainConfig."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Sequence

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from app.panels.config_widgets import (
    FloatSpinBox,
    IntSpinBox,
    format_hidden_sizes,
    ladder_step,
    note_label,
    parse_hidden_sizes,
)
from app.state.form import FormState
from core.config import (
    DATASET_DESCRIPTIONS,
    PRESET_KEYS,
    SETTINGS,
    SETTINGS_BY_KEY,
    ConfigError,
    DatasetConfig,
    Setting,
    TrainConfig,
    model_shape_bounds,
    preset_updates,
)
from core.datasets import dataset_spec
from core.devices import DeviceInfo, list_devices
from core.memory import MemoryInfo, training_memory_problem
from core.optimizers import OPTIMIZERS_BY_NAME

__all__ = ["ConfigPanel", "format_hidden_sizes", "ladder_step", "parse_hidden_sizes"]

from app.panels.config_layout import (  # noqa: E402
    BOOK_TOOLTIP,
    DATASET_OPTION_KEYS,
    GROUPS,
    INVALID_STYLE,
    OBJECT_NAMES,
    PLACEHOLDERS,
    _get,
    _row,
    fill_devices,
    layers_changed,
    make_button,
    select_device,
)


class ConfigPanel(QWidget):
    """Every TrainConfig field as a control; `config()` reads them back, `set_config()` fills them.

    A config passed through the form comes back unchanged: the controls show each value exactly and keep
    what the user types, even out of range. A wrong value is marked in red with a note right under its
    field saying what is wrong, and `config()` then raises ConfigError with the same message (`exc.key`
    names the field). Changing the data set brings that set's starting settings (core.config's
    DATASET_PRESETS) for the settings still at the previous set's; "Book defaults" restores the book's run.
    """

    changed = Signal()  # any setting changed (also fired once by set_config)

    def __init__(self, devices: Sequence[DeviceInfo] | Callable[[], Sequence[DeviceInfo]] | None = None, parent=None,
                 *, memory: MemoryInfo | Callable[[], MemoryInfo] | None = None, form: FormState | None = None):
        super().__init__(parent)
        self.setObjectName("configPanel")
        # What the controls say, validated once per change (the window reads it there), and a problem with
        # the data they name, found when it was made (shown under its field like a wrong value).
        self.form = form if form is not None else FormState()
        self.form.changed.connect(self._show_validation)
        if devices is None:
            devices = list_devices()
        elif callable(devices):
            devices = devices()
        self._devices = list(devices)
        self._memory = memory  # what the machine has (tests inject it); None reads the OS when a model is big
        self._controls: dict[str, QWidget] = {}  # setting key -> its control
        self._cells: dict[str, QWidget] = {}  # setting key -> its form row's field (control and note)
        self._notes: dict[str, QWidget] = {}  # setting key -> the red line under it
        self._filling = False  # set_config or a preset is writing: one `changed` at the end
        self._dataset_name = "appendix-a"  # the data set the presets last saw
        self._device_alias: str | None = None  # "cuda" as the config wrote it, shown as cuda:0
        self._shown_error_key: str | None = None
        self._build()
        self.set_config(TrainConfig())

    # --- building ---------------------------------------------------------------------------------

    def _build(self) -> None:
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        top = QHBoxLayout()
        self.book_defaults_button = make_button("bookDefaultsButton", "Book defaults", "Book defaults", BOOK_TOOLTIP)
        self.book_defaults_button.clicked.connect(self._restore_book_defaults)
        top.addStretch(1)
        top.addWidget(self.book_defaults_button)
        outer.addLayout(top)
        self.error_label = note_label("configErrorLabel", "Settings error")  # a wrong value in a hidden row
        outer.addWidget(self.error_label)
        self._forms: dict[str, QFormLayout] = {}
        for title in ("Data", "Model", "Optimizer", "Training"):
            box = QGroupBox(title)
            self._forms[title] = QFormLayout(box)
            outer.addWidget(box)
        outer.addStretch(1)
        for setting in SETTINGS:
            self._add_row(setting)
        self.dataset_combo: QComboBox = self._controls["dataset.name"]
        self.device_combo: QComboBox = self._controls["device"]
        self.hidden_sizes_edit: QLineEdit = self._controls["hidden_sizes"]
        self.csv_path_edit: QLineEdit = self._controls["dataset.path"]
        workers = self._controls["num_workers"]
        cores = os.cpu_count() or 1
        workers.setToolTip(f"{workers.toolTip()} This machine has {cores} CPU core(s): a run uses at most {cores} "
                           "workers, since more only wait for each other (torch warns beyond the core count).")

    def _add_row(self, setting: Setting) -> None:
        key = setting.key
        control = self._make_control(setting)
        control.setObjectName(OBJECT_NAMES[key])
        control.setAccessibleName(setting.label)
        control.setToolTip(setting.help)
        control.setAccessibleDescription(setting.help)
        self._controls[key] = control
        field: QWidget = control
        if key == "hidden_sizes":
            self.add_layer_button = make_button("addLayerButton", "+", "Add hidden layer",
                                                 "Add a hidden layer at the end, as wide as the last one.")
            self.remove_layer_button = make_button("removeLayerButton", "−", "Remove hidden layer",
                                                    "Remove the last hidden layer.")
            self.add_layer_button.clicked.connect(self._add_layer)
            self.remove_layer_button.clicked.connect(self._remove_layer)
            for b in (self.add_layer_button, self.remove_layer_button):
                b.setFixedWidth(32)
            field = _row(control, self.add_layer_button, self.remove_layer_button)
        elif key == "dataset.path":
            self.csv_browse_button = make_button("csvBrowseButton", "Choose…", "Choose CSV file",
                                                  "Pick the CSV file to train on.")
            self.csv_browse_button.clicked.connect(self._browse_csv)
            field = _row(control, self.csv_browse_button)
        note = note_label(f"{OBJECT_NAMES[key]}Error", f"{setting.label}: error")
        cell = QWidget()
        column = QVBoxLayout(cell)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(2)
        column.addWidget(field)
        column.addWidget(note)
        self._cells[key], self._notes[key] = cell, note
        form = self._forms["Data" if key.startswith("dataset.") else GROUPS.get(key, "Training")]
        if isinstance(control, QCheckBox):
            form.addRow(cell)
        else:
            form.addRow(setting.label, cell)

    def _make_control(self, setting: Setting) -> QWidget:
        kind, key = setting.kind, setting.key
        if kind == "int":
            control = IntSpinBox(setting)
        elif kind == "float":
            control = FloatSpinBox(setting)
        elif kind == "bool":
            control = QCheckBox(setting.label)
            control.toggled.connect(self._on_changed)
            return control
        elif kind == "choice" or key == "device":
            control = QComboBox()
            if key == "device":
                self.device_combo = control
                fill_devices(self.device_combo, self._devices)
            for value in setting.choices:
                control.addItem(value, value)
                if key == "dataset.name":
                    control.setItemData(control.count() - 1, DATASET_DESCRIPTIONS[value], Qt.ItemDataRole.ToolTipRole)
            control.currentIndexChanged.connect(self._on_dataset_changed if key == "dataset.name" else self._on_changed)
            return control
        else:  # text, sizes
            control = QLineEdit()
            control.setPlaceholderText(PLACEHOLDERS.get(key, ""))
            control.textChanged.connect(self._on_changed)
            return control
        control.lineEdit().textChanged.connect(self._on_changed)
        return control

    def set_devices(self, devices: Sequence[DeviceInfo], prefer: str | None = None) -> None:
        """Offer these devices (the real list, once torch has loaded); keep the current choice if it is
        still offered, else take `prefer` (a device name) when it is usable, else cpu."""
        combo = self.device_combo
        current = self._device_value()
        self._devices = list(devices)
        combo.blockSignals(True)
        try:
            combo.clear()
            fill_devices(self.device_combo, self._devices)
        finally:
            combo.blockSignals(False)
        for name in (prefer, current):
            if name and combo.findData("cuda:0" if name == "cuda" else name) >= 0 and not self._select_device(name):
                break
        else:
            self._select_device("cpu")
        self._on_changed()

    # --- reading and writing ----------------------------------------------------------------------

    def devices(self) -> list[DeviceInfo]:
        return list(self._devices)

    def config(self) -> TrainConfig:
        """The settings as a validated TrainConfig; ConfigError (its `key` naming the field) when one is wrong,
        including a model too big for this machine's memory."""
        values = {s.key: self._read(s.key) for s in SETTINGS}
        ds = DatasetConfig(**{k.partition(".")[2]: v for k, v in values.items() if k.startswith("dataset.")})
        cfg = TrainConfig(dataset=ds, **{k: v for k, v in values.items() if "." not in k}).validate()
        inputs, outputs = model_shape_bounds(cfg.dataset)
        problem = training_memory_problem(inputs, cfg.hidden_sizes, outputs, cfg.optimizer, cfg.momentum,
                                          memory=self._memory, at_least=cfg.dataset.name == "csv")
        if problem is not None:
            raise ConfigError(problem, "hidden_sizes")
        return cfg

    def set_config(self, cfg: TrainConfig) -> list[str]:
        """Show `cfg` in every control; returns notes on values the form had to change (a device not here)."""
        notes: list[str] = []
        self._filling = True
        try:
            for setting in SETTINGS:
                if setting.key != "device":
                    self._write(setting.key, _get(cfg, setting.key))
            notes += self._select_device(cfg.device)
            self._dataset_name = cfg.dataset.name
        finally:
            self._filling = False
        self._on_changed()
        return notes

    def _read(self, key: str):
        """The value a control shows; ConfigError naming the field when its text is not one."""
        w = self._controls[key]
        if key == "device":
            return self._device_value()
        if isinstance(w, (IntSpinBox, FloatSpinBox)):
            try:
                return w.parsed()
            except ValueError as exc:
                raise ConfigError(f"{key}: {exc}", key) from None
        if isinstance(w, QCheckBox):
            return w.isChecked()
        if isinstance(w, QComboBox):
            return w.currentData()
        if key == "hidden_sizes":
            return parse_hidden_sizes(w.text())
        return w.text() or None  # kept as typed: a path may well end in a space

    def _write(self, key: str, value) -> None:
        w = self._controls[key]
        if isinstance(w, (IntSpinBox, FloatSpinBox)):
            w.setValue(value)
        elif isinstance(w, QCheckBox):
            w.setChecked(value)
        elif isinstance(w, QComboBox):
            w.setCurrentIndex(w.findData(value))
        elif key == "hidden_sizes":
            w.setText(format_hidden_sizes(value))
        else:
            w.setText(value or "")

    def _device_value(self) -> str:
        current = self.device_combo.currentData()
        return self._device_alias if self._device_alias and current == "cuda:0" else current

    def _select_device(self, name: str) -> list[str]:
        notes, self._device_alias = select_device(self.device_combo, name)
        return notes

    def set_running(self, running: bool) -> None:
        """Nothing of a run can change while it trains."""
        for w in self.findChildren(QGroupBox):
            w.setEnabled(not running)
        self.book_defaults_button.setEnabled(not running)

    # --- checks and visibility --------------------------------------------------------------------

    def validation_error(self) -> str | None:
        error = self.form.error
        return str(error) if error is not None else None

    def _on_changed(self, *_args) -> None:
        if self._filling:
            return
        self._update_applicable()
        try:
            cfg, error = self.config(), None
        except ConfigError as exc:
            cfg, error = None, exc
        self.form.set(cfg, error)  # shows the notes (form.changed)
        self.changed.emit()

    def _on_dataset_changed(self, *_args) -> None:
        if self._filling:
            return
        old, new = self._dataset_name, self.dataset_combo.currentData()
        self._dataset_name = new
        current = {}
        for key in PRESET_KEYS:
            try:
                current[key] = self._read(key)
            except ConfigError:
                pass  # text that is no value is the user's own: left alone
        self._filling = True
        try:
            for key, value in preset_updates(current, old, new).items():
                self._write(key, value)
        finally:
            self._filling = False
        self._on_changed()

    def _show_validation(self) -> None:
        error = self.form.error
        problem = self.form.data_problem() if error is None else None
        if problem is not None:  # the data these settings name could not be made or read
            error = ConfigError(problem[1], problem[0])
        key = None if error is None else "dataset.name" if error.key == "dataset" else error.key
        # A field whose row is hidden (another data set's option) cannot show its note: the top line does.
        at_field = key in self._notes and self._cells[key].isVisibleTo(self)
        for k, control in self._controls.items():
            style = INVALID_STYLE if k == key else ""
            if control.styleSheet() != style:  # restyling every control on every keystroke is not free
                control.setStyleSheet(style)
            note, text = self._notes[k], str(error) if k == key and at_field else ""
            if note.text() != text:
                note.setText(text)
                note.setVisible(bool(text))
        self.error_label.setText(str(error) if error is not None and not at_field else "")
        self.error_label.setVisible(error is not None and not at_field)
        if error is not None and key != self._shown_error_key:
            # A new error: make sure its note is in view (the form usually sits in a scroll area).
            QTimer.singleShot(0, self, self._reveal_error)
        self._shown_error_key = key if error is not None else None

    def _reveal_error(self) -> None:
        note = self._notes.get(self._shown_error_key or "")
        target = note if note is not None and note.isVisible() else self.error_label
        scroll = self.parentWidget()
        while scroll is not None and not isinstance(scroll, QScrollArea):
            scroll = scroll.parentWidget()
        if scroll is not None and target.isVisible():
            scroll.ensureWidgetVisible(target, 0, 8)

    def _update_applicable(self) -> None:
        spec = dataset_spec(self.dataset_combo.currentData())
        # The data set's own options (core.datasets); standardize applies to every set.
        show = {key: key in spec.options for key in DATASET_OPTION_KEYS}
        form = self._forms["Data"]
        for key, visible in show.items():
            form.setRowVisible(self._cells[key], visible)
        momentum = self._controls["momentum"]
        spec = OPTIMIZERS_BY_NAME.get(self._controls["optimizer"].currentData())
        takes = spec is not None and spec.momentum
        momentum.setEnabled(takes)
        with_momentum = ", ".join(s.label for s in OPTIMIZERS_BY_NAME.values() if s.momentum)
        momentum.setToolTip(SETTINGS_BY_KEY["momentum"].help if takes else
                            f"Momentum applies to {with_momentum} only; {spec.label if spec else 'this optimizer'} "
                            "keeps its own running averages.")
        self.remove_layer_button.setEnabled(bool(self.hidden_sizes_edit.text().strip()))

    # --- buttons ----------------------------------------------------------------------------------

    def _restore_book_defaults(self) -> None:
        self.set_config(dataclasses.replace(TrainConfig(), device=self._device_value()))

    def _add_layer(self) -> None:
        self.hidden_sizes_edit.setText(layers_changed(self.hidden_sizes_edit.text(), +1))

    def _remove_layer(self) -> None:
        self.hidden_sizes_edit.setText(layers_changed(self.hidden_sizes_edit.text(), -1))

    def _browse_csv(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Choose a CSV file", self.csv_path_edit.text(), "CSV files (*.csv);;All files (*)"
        )
        if path:
            self.csv_path_edit.setText(path)
