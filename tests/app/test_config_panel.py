"""The settings form: names, tooltips, defaults, round trips, validation and which options show."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QScrollArea, QSpinBox

from app.panels.config_panel import OBJECT_NAMES, ConfigPanel, ladder_step, parse_hidden_sizes
from core.config import DATASET_PRESETS, SETTINGS, ConfigError, DatasetConfig, TrainConfig
from core.memory import MemoryInfo
from tests.app.helpers import CPU_ONLY, FAKE_DEVICES, click, widget

DESIGN_NAMES = {
    "datasetCombo": QComboBox,
    "hiddenSizesEdit": QLineEdit,
    "activationCombo": QComboBox,
    "optimizerCombo": QComboBox,
    "learningRateSpin": QDoubleSpinBox,
    "batchSizeSpin": QSpinBox,
    "shuffleCheck": QCheckBox,
    "dropLastCheck": QCheckBox,
    "epochsSpin": QSpinBox,
    "seedSpin": QSpinBox,
    "deviceCombo": QComboBox,
}
OTHER_CONTROLS = [
    "samplesSpin", "noiseSpin", "classesSpin", "testFractionSpin", "dataSeedSpin", "standardizeCheck",
    "csvPathEdit", "csvBrowseButton", "labelColumnEdit", "addLayerButton", "removeLayerButton",
    "momentumSpin", "weightDecaySpin", "numWorkersSpin", "bookDefaultsButton",
]


@pytest.fixture
def panel(qtbot):
    p = ConfigPanel(devices=FAKE_DEVICES)
    qtbot.addWidget(p)
    p.show()
    return p


def test_design_names_types_and_the_books_defaults(window):
    for name, cls in DESIGN_NAMES.items():
        widget(window, name, cls)
    assert window.config_panel.config() == TrainConfig()
    assert widget(window, "hiddenSizesEdit").text() == "30, 20"
    assert widget(window, "learningRateSpin").value() == pytest.approx(0.5)
    assert widget(window, "batchSizeSpin").value() == 2
    assert widget(window, "shuffleCheck").isChecked() and widget(window, "dropLastCheck").isChecked()
    assert widget(window, "epochsSpin").value() == 3 and widget(window, "seedSpin").value() == 123
    assert widget(window, "datasetCombo").currentData() == "appendix-a"
    assert widget(window, "deviceCombo").currentData() == "cpu"


def test_every_control_has_a_name_an_accessible_name_and_a_tooltip(window):
    names = list(DESIGN_NAMES) + OTHER_CONTROLS + [
        "trainButton", "stopButton", "pauseButton", "resetButton", "lossPlot", "statusLabel", "accuracyPlot",
        "dataPlot", "predictionsTable", "progressBar", "predictInputEdit", "predictButton",
    ]
    for name in names:
        w = widget(window, name)
        assert w.accessibleName(), f"{name} has no accessible name"
        assert len(w.toolTip()) > 10, f"{name} has no useful tooltip"
    assert "fewer" in widget(window, "dropLastCheck").toolTip()  # says what drop_last drops
    assert "order" in widget(window, "shuffleCheck").toolTip()  # says why shuffling matters


def test_set_config_round_trips_every_field(panel):
    cfg = TrainConfig(
        dataset=DatasetConfig(name="blobs", samples=321, noise=0.35, classes=4, test_fraction=0.25, seed=7,
                              standardize=True),
        hidden_sizes=(16, 8, 4),
        activation="tanh",
        optimizer="sgd",
        learning_rate=0.003,
        momentum=0.9,
        weight_decay=0.0001,
        batch_size=17,
        shuffle=False,
        drop_last=False,
        num_workers=0,
        epochs=42,
        seed=99,
        device="cuda:0",
    )
    assert panel.set_config(cfg) == []
    assert panel.config() == cfg
    csv = TrainConfig(dataset=DatasetConfig(name="csv", path="/data/x.csv", label_column="species"), hidden_sizes=())
    panel.set_config(csv)
    assert panel.config() == csv
    assert widget(panel, "hiddenSizesEdit").text() == ""


def test_unavailable_device_is_disabled_with_its_reason_and_never_selected(qtbot):
    panel = ConfigPanel(devices=CPU_ONLY)
    qtbot.addWidget(panel)
    combo = widget(panel, "deviceCombo")
    i = combo.findData("cuda")
    assert i >= 0
    assert not combo.model().item(i).isEnabled()
    assert "CUDA" in combo.itemData(i, Qt.ItemDataRole.ToolTipRole)
    assert combo.model().item(combo.findData("cpu")).isEnabled()
    notes = panel.set_config(TrainConfig(device="cuda:0"))
    assert panel.config().device == "cpu" and notes  # a file saved on a GPU machine opens on cpu, saying so


def test_device_list_is_injectable_and_callable(qtbot):
    panel = ConfigPanel(devices=lambda: FAKE_DEVICES)
    qtbot.addWidget(panel)
    combo = widget(panel, "deviceCombo")
    assert combo.model().item(combo.findData("cuda:0")).isEnabled()
    assert not combo.model().item(combo.findData("mps")).isEnabled()


def test_wrong_hidden_sizes_names_the_field_and_train_refuses(window, qtbot):
    edit = widget(window, "hiddenSizesEdit")
    edit.setText("30, x")
    note = widget(window, "hiddenSizesEditError")
    assert note.isVisible() and "hidden_sizes" in note.text() and "'x'" in note.text()
    assert "border" in edit.styleSheet()
    with pytest.raises(ConfigError, match="hidden_sizes") as err:
        window.config_panel.config()
    assert err.value.key == "hidden_sizes"
    click(qtbot, widget(window, "trainButton"))
    assert not window.is_training()
    assert "hidden_sizes" in widget(window, "statusLabel").text()
    assert window.last_message is not None and "hidden_sizes" in window.last_message[1]
    edit.setText("30, 20")
    assert not note.isVisible() and edit.styleSheet() == ""


def _in_view(scroll: QScrollArea, w) -> bool:
    """Whether all of `w` lies inside the scroll area's visible part."""
    top_left = w.mapTo(scroll.viewport(), QPoint(0, 0))
    return scroll.viewport().rect().contains(top_left) and scroll.viewport().rect().contains(
        top_left + QPoint(w.width() - 1, w.height() - 1))


def test_the_error_shows_right_under_the_field_where_the_user_types(window, qtbot):
    # It used to sit under the whole form, below the fold of the scrolled settings: a sliver showed.
    window.resize(1000, 480)
    edit = widget(window, "hiddenSizesEdit")
    edit.selectAll()
    qtbot.keyClicks(edit, "abc")
    note = widget(window, "hiddenSizesEditError")
    assert note.isVisible() and "'abc'" in note.text()
    edit_bottom = edit.mapTo(window, QPoint(0, edit.height())).y()
    note_top = note.mapTo(window, QPoint(0, 0)).y()
    assert 0 <= note_top - edit_bottom <= 12  # directly under the row
    scroll = widget(window, "configScroll", QScrollArea)
    qtbot.waitUntil(lambda: _in_view(scroll, note), timeout=60_000)
    edit.setText("30, 20")
    # The last row, scrolled to the bottom of the view: its note scrolls into view with it.
    seed = widget(window, "seedSpin")
    qtbot.waitUntil(lambda: scroll.verticalScrollBar().maximum() > 0, timeout=60_000)
    scroll.ensureWidgetVisible(seed, 0, 0)
    qtbot.waitUntil(lambda: _in_view(scroll, seed), timeout=60_000)
    type_into(qtbot, seed, "x")
    seed_note = widget(window, "seedSpinError")
    assert seed_note.isVisible() and "seed" in seed_note.text()
    qtbot.waitUntil(lambda: _in_view(scroll, seed_note) and _in_view(scroll, seed), timeout=60_000)


@pytest.mark.parametrize(
    ("text", "words"),
    [("abc", "'abc' (layer 1) is not a whole number"), ("-3", "layer 1 has -3 units; a layer needs at least 1"),
     ("30,,20", "empty layer between two commas"), ("30, 20,", "after the last comma"), (", 5", "before the first"),
     ("2.5", "not a whole number"), ("65537", "use 1 to 65536")],
)
def test_hidden_sizes_say_what_is_wrong(panel, text, words):
    widget(panel, "hiddenSizesEdit").setText(text)
    note = widget(panel, "hiddenSizesEditError")
    assert note.isVisible() and words in note.text()


def test_a_model_bigger_than_the_machine_is_refused_in_the_form(qtbot):
    panel = ConfigPanel(devices=FAKE_DEVICES, memory=MemoryInfo(total=16 * 2**30, available=8 * 2**30))
    qtbot.addWidget(panel)
    panel.show()
    widget(panel, "hiddenSizesEdit").setText("65536, 65536")  # 4.3 billion parameters
    note = widget(panel, "hiddenSizesEditError")
    assert note.isVisible() and "32.0 GiB" in note.text() and "8.0 GiB" in note.text()
    with pytest.raises(ConfigError) as err:
        panel.config()
    assert err.value.key == "hidden_sizes"
    widget(panel, "hiddenSizesEdit").setText("64, 64")
    assert not note.isVisible() and panel.config().hidden_sizes == (64, 64)
    panel.set_config(TrainConfig(hidden_sizes=(30_000, 30_000)))  # sgd, 2 inputs: 6.7 GiB, fits in 8
    assert panel.validation_error() is None
    # The form knows digits' 64 inputs and 10 classes, and Adam's two extra copies of every weight.
    panel.set_config(TrainConfig(dataset=DatasetConfig(name="digits"), hidden_sizes=(30_000, 30_000), optimizer="adam"))
    assert "64 inputs" in panel.validation_error() and "13.4 GiB" in panel.validation_error()
    panel.set_config(TrainConfig(dataset=DatasetConfig(name="csv", path="x.csv"), hidden_sizes=(65536, 65536)))
    assert "at least 2 inputs" in panel.validation_error()  # a csv file's width is not known before it is read


@pytest.mark.parametrize(
    ("text", "sizes"), [("30, 20", (30, 20)), ("", ()), ("  8 ", (8,)), ("4,4,4", (4, 4, 4)), ("10 5", (10, 5))]
)
def test_parse_hidden_sizes(text, sizes):
    assert parse_hidden_sizes(text) == sizes


@pytest.mark.parametrize("text", ["30, x", "0", "-3", "2.5", "30,,x", "30,,20", "30,", ","])
def test_parse_hidden_sizes_refuses(text):
    with pytest.raises(ConfigError, match="hidden_sizes"):
        parse_hidden_sizes(text)


def test_add_and_remove_layer_buttons(panel, qtbot):
    edit = widget(panel, "hiddenSizesEdit")
    click(qtbot, widget(panel, "addLayerButton"))
    assert edit.text() == "30, 20, 20"
    click(qtbot, widget(panel, "removeLayerButton"))
    click(qtbot, widget(panel, "removeLayerButton"))
    click(qtbot, widget(panel, "removeLayerButton"))
    assert edit.text() == "" and panel.config().hidden_sizes == ()
    assert not widget(panel, "removeLayerButton").isEnabled()
    click(qtbot, widget(panel, "addLayerButton"))
    assert panel.config().hidden_sizes == (10,)


def test_learning_rate_spans_the_configs_range_with_a_log_step(panel):
    spin = widget(panel, "learningRateSpin")
    assert spin.minimum() == 0 and spin.maximum() == 1000  # the config's (0, 1000]; 0 itself is refused
    spin.setValue(1e-5)
    assert panel.config().learning_rate == 1e-5
    assert spin.text() == "0.00001"
    spin.setValue(0.5)
    spin.stepBy(1)
    assert spin.value() == 1.0
    spin.stepBy(-2)
    assert spin.value() == 0.2
    spin.setValue(0.001)
    spin.stepBy(-1)
    assert spin.value() == 0.0005
    spin.setValue(1e-5)
    spin.stepBy(-1)
    assert spin.value() == 5e-6
    spin.setValue(1000)
    spin.stepBy(1)
    assert spin.value() == 1000


def test_ladder_step():
    assert ladder_step(0.3, 1, 1e-5, 10) == pytest.approx(0.5)
    assert ladder_step(0.3, -1, 1e-5, 10) == pytest.approx(0.2)
    assert ladder_step(1e-5, -1, 1e-5, 10) == pytest.approx(1e-5)
    assert ladder_step(0.01, 3, 1e-5, 10) == pytest.approx(0.1)


def test_options_show_only_where_they_apply(panel):
    combo = widget(panel, "datasetCombo")
    visible = {name: None for name in ("samplesSpin", "noiseSpin", "classesSpin", "testFractionSpin", "csvPathEdit")}

    def shown():
        return {name: widget(panel, name).isVisibleTo(panel) for name in visible}

    assert shown() == dict.fromkeys(visible, False)  # appendix-a: the book fixes everything
    combo.setCurrentIndex(combo.findData("moons"))
    assert shown() == {"samplesSpin": True, "noiseSpin": True, "classesSpin": False, "testFractionSpin": True,
                       "csvPathEdit": False}
    combo.setCurrentIndex(combo.findData("blobs"))
    assert shown()["classesSpin"]
    combo.setCurrentIndex(combo.findData("csv"))
    assert shown() == {"samplesSpin": False, "noiseSpin": False, "classesSpin": False, "testFractionSpin": True,
                       "csvPathEdit": True}
    assert "dataset.path" in widget(panel, "csvPathEditError").text()  # csv needs a file, said under its field
    optimizer = widget(panel, "optimizerCombo")
    assert widget(panel, "momentumSpin").isEnabled()
    optimizer.setCurrentIndex(optimizer.findData("adam"))
    assert not widget(panel, "momentumSpin").isEnabled()


def test_set_running_disables_the_form(panel):
    panel.set_running(True)
    assert not widget(panel, "batchSizeSpin").isEnabled()
    assert not widget(panel, "hiddenSizesEdit").isEnabled()
    panel.set_running(False)
    assert widget(panel, "batchSizeSpin").isEnabled()


def type_into(qtbot, spin, text: str) -> None:
    """Select all, type `text` and press Enter, as a user does (Enter makes Qt read the text, as Tab does)."""
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), text)
    qtbot.keyClick(spin.lineEdit(), Qt.Key.Key_Return)


@pytest.mark.parametrize(
    ("typed", "value"),
    [("0.02", 0.02), ("1e-3", 0.001), ("0.00001", 1e-5), ("3e-6", 3e-6), ("20", 20.0), ("10.5", 10.5), ("100", 100.0),
     ("1000", 1000.0)],
)
def test_typing_a_learning_rate(panel, qtbot, typed, value):
    # 20, 10.5 and 100 used to become 0.00001 (and a CLI model's 100 opened as 10) without a word.
    spin = widget(panel, "learningRateSpin")
    type_into(qtbot, spin, typed)
    assert panel.config().learning_rate == value
    assert float(spin.text()) == value and panel.validation_error() is None


@pytest.mark.parametrize("typed", ["2000", "0", "-1", "1e400"])
def test_a_learning_rate_out_of_range_is_refused_with_a_note_and_kept_as_typed(panel, qtbot, typed):
    spin = widget(panel, "learningRateSpin")
    type_into(qtbot, spin, typed)
    assert float(spin.text()) == float(typed)  # never silently changed (1e400 reads as inf either way)
    note = widget(panel, "learningRateSpinError")
    assert note.isVisible() and "learning_rate" in note.text()
    assert "1000" in note.text() or "finite" in note.text()
    with pytest.raises(ConfigError) as err:
        panel.config()
    assert err.value.key == "learning_rate"
    type_into(qtbot, spin, "0.1")
    assert not note.isVisible() and panel.config().learning_rate == 0.1


NUMERIC = [s for s in SETTINGS if s.kind in ("int", "float")]


@pytest.mark.parametrize("setting", NUMERIC, ids=lambda s: s.key)
def test_typing_past_either_end_of_a_fields_range_is_refused_with_a_note(panel, qtbot, setting):
    panel.set_config(TrainConfig(dataset=DatasetConfig(name="blobs")))  # every numeric row shown
    spin = widget(panel, OBJECT_NAMES[setting.key])
    note = widget(panel, OBJECT_NAMES[setting.key] + "Error")
    if setting.kind == "int":
        past = [str(int(setting.high) + 1), str(int(setting.low) - 1)]
    else:
        past = [repr(setting.high + 1), "0" if setting.low_open else repr(setting.low - 1)]
    for typed in past:
        type_into(qtbot, spin, typed)
        assert spin.value() == (int(typed) if setting.kind == "int" else float(typed))  # kept, not clamped
        assert note.isVisible() and setting.key in note.text(), note.text()
        assert ("between" in note.text() or "at most" in note.text()), note.text()
        with pytest.raises(ConfigError) as err:
            panel.config()
        assert err.value.key == setting.key
    type_into(qtbot, spin, "x")
    assert spin.text() == "x" and "not a" in note.text()


def _edges(setting):
    """The low and high ends and an odd value with many significant digits, all valid."""
    if setting.kind == "int":
        low, high = int(setting.low), int(setting.high)
        return [low, high, low + (high - low) * 7 // 13]
    if setting.kind == "float":
        low = 5e-324 if setting.low_open else setting.low  # the smallest number above an open end
        return [low, setting.high, setting.low + (setting.high - setting.low) * 0.12345678901234567, 0.125 * setting.high,
                1e-6 * setting.high]
    if setting.kind == "bool":
        return [True, False]
    if setting.kind == "choice":
        return list(setting.choices)
    if setting.kind == "sizes":
        return [(), (1,), (65536,), (1,) * 64, (3, 77, 1024)]
    if setting.key == "device":
        return ["cpu", "cuda:0", "cuda", "auto"]
    return [None, "/tmp/a folder/données.csv", " spaced ", "x"]


@pytest.mark.parametrize("setting", SETTINGS, ids=lambda s: s.key)
def test_every_value_a_config_can_hold_comes_back_unchanged(panel, setting):
    base = TrainConfig(dataset=DatasetConfig(name="moons", path="data.csv"))
    for value in _edges(setting):
        section, _, name = setting.key.rpartition(".")
        cfg = base.with_changes(dataset={name: value}) if section else base.with_changes(**{name: value})
        if setting.key == "dataset.name":
            cfg = cfg.with_changes(dataset={"path": "data.csv"})
        cfg.validate()
        assert panel.set_config(cfg) == []
        assert panel.config() == cfg, (setting.key, value)
        assert panel.validation_error() is None


def test_the_reported_values_come_back_unchanged(panel):
    cfg = TrainConfig(dataset=DatasetConfig(name="moons", test_fraction=0.125, noise=0.1234), learning_rate=3e-6,
                      weight_decay=1e-6, seed=2**40, device="cpu")
    assert panel.set_config(cfg) == []
    assert panel.config() == cfg  # was 0.13, 0.123, 1e-05 and 0.0
    assert widget(panel, "testFractionSpin").text() == "0.125" and widget(panel, "learningRateSpin").text() == "0.000003"
    assert widget(panel, "seedSpin").text() == str(2**40)  # above what a QSpinBox holds, shown and kept


def test_arrows_keep_a_values_digits_and_stay_in_range(panel):
    panel.set_config(TrainConfig(dataset=DatasetConfig(name="moons", noise=0.1234, test_fraction=0.85, seed=2**63 - 2)))
    noise = widget(panel, "noiseSpin")
    noise.stepBy(1)
    assert noise.value() == 0.1734
    fraction = widget(panel, "testFractionSpin")
    fraction.stepBy(3)
    assert fraction.value() == 0.9
    seed = widget(panel, "dataSeedSpin")
    seed.stepBy(5)
    assert panel.config().dataset.seed == 2**63 - 1


def test_dataset_entries_read_the_config_names(panel):
    combo = widget(panel, "datasetCombo")
    names = [combo.itemText(i) for i in range(combo.count())]
    assert names == ["appendix-a", "moons", "circles", "blobs", "xor", "spiral", "iris", "digits", "csv"]
    assert all(combo.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(combo.count()))


def test_each_data_set_brings_its_starting_settings_for_what_the_user_left(panel):
    combo = widget(panel, "datasetCombo")
    widget(panel, "batchSizeSpin").setValue(7)  # the user's own choice
    combo.setCurrentIndex(combo.findData("moons"))
    cfg = panel.config()
    moons = DATASET_PRESETS["moons"]
    assert (cfg.optimizer, cfg.learning_rate, cfg.epochs) == (moons["optimizer"], moons["learning_rate"], moons["epochs"])
    assert cfg.batch_size == 7
    widget(panel, "learningRateSpin").setValue(0.2)
    combo.setCurrentIndex(combo.findData("spiral"))
    cfg = panel.config()
    assert cfg.learning_rate == 0.2 and cfg.optimizer == DATASET_PRESETS["spiral"]["optimizer"] and cfg.batch_size == 7
    combo.setCurrentIndex(combo.findData("csv"))  # no preset: nothing changes
    assert widget(panel, "epochsSpin").value() == DATASET_PRESETS["spiral"]["epochs"]


def test_set_config_brings_no_preset(panel):
    cfg = TrainConfig(dataset=DatasetConfig(name="spiral"))  # the book's rate on spiral, from a file
    panel.set_config(cfg)
    assert panel.config() == cfg


def test_book_defaults_restore_the_books_run(panel, qtbot):
    combo = widget(panel, "datasetCombo")
    combo.setCurrentIndex(combo.findData("digits"))
    widget(panel, "hiddenSizesEdit").setText("64")
    widget(panel, "seedSpin").setValue(5)
    device = widget(panel, "deviceCombo")
    device.setCurrentIndex(device.findData("cuda:0"))
    button = widget(panel, "bookDefaultsButton")
    assert button.isVisible() and "book" in button.toolTip()
    with qtbot.waitSignal(panel.changed, timeout=60_000):
        click(qtbot, button)
    assert panel.config() == dataclasses.replace(TrainConfig(), device="cuda:0")
    panel.set_running(True)
    assert not button.isEnabled()


def test_a_stale_error_goes_as_soon_as_the_value_is_valid(panel, qtbot):
    combo = widget(panel, "datasetCombo")
    combo.setCurrentIndex(combo.findData("csv"))
    note = widget(panel, "csvPathEditError")
    assert note.isVisible() and "dataset.path" in note.text()
    qtbot.keyClicks(widget(panel, "csvPathEdit"), "d")
    assert not note.isVisible() and note.text() == ""


def test_an_error_in_a_hidden_row_shows_at_the_top(panel, qtbot):
    panel.set_config(TrainConfig(dataset=DatasetConfig(name="moons")))
    type_into(qtbot, widget(panel, "samplesSpin"), "2")
    combo = widget(panel, "datasetCombo")
    combo.setCurrentIndex(combo.findData("iris"))  # samples no longer shown
    top = widget(panel, "configErrorLabel")
    assert top.isVisible() and "dataset.samples" in top.text()
