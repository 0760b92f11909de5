"""The settings form: names, tooltips, defaults, round trips, validation and which options show."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QComboBox, QDoubleSpinBox, QLineEdit, QSpinBox

from app.config_panel import ConfigPanel, ladder_step, parse_hidden_sizes
from core.config import ConfigError, DatasetConfig, TrainConfig
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
    "momentumSpin", "weightDecaySpin", "numWorkersSpin",
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
    error = widget(window, "configErrorLabel")
    assert error.isVisible() and "hidden_sizes" in error.text() and "'x'" in error.text()
    assert "border" in edit.styleSheet()
    with pytest.raises(ConfigError, match="hidden_sizes"):
        window.config_panel.config()
    click(qtbot, widget(window, "trainButton"))
    assert not window.is_training()
    assert "hidden_sizes" in widget(window, "statusLabel").text()
    assert window.last_message is not None and "hidden_sizes" in window.last_message[1]
    edit.setText("30, 20")
    assert not error.isVisible() and edit.styleSheet() == ""


@pytest.mark.parametrize(
    ("text", "sizes"), [("30, 20", (30, 20)), ("", ()), ("  8 ", (8,)), ("4,4,4", (4, 4, 4)), ("10 5", (10, 5))]
)
def test_parse_hidden_sizes(text, sizes):
    assert parse_hidden_sizes(text) == sizes


@pytest.mark.parametrize("text", ["30, x", "0", "-3", "2.5", "30,,x"])
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


def test_learning_rate_spans_1e5_to_10_with_a_log_step(panel):
    spin = widget(panel, "learningRateSpin")
    assert spin.decimals() >= 5 and spin.minimum() == pytest.approx(1e-5) and spin.maximum() == pytest.approx(10)
    spin.setValue(1e-5)
    assert panel.config().learning_rate == pytest.approx(1e-5)
    assert spin.text() == "0.00001"
    spin.setValue(0.5)
    spin.stepBy(1)
    assert spin.value() == pytest.approx(1.0)
    spin.stepBy(-2)
    assert spin.value() == pytest.approx(0.2)
    spin.setValue(0.001)
    spin.stepBy(-1)
    assert spin.value() == pytest.approx(0.0005)
    spin.setValue(10)
    spin.stepBy(1)
    assert spin.value() == pytest.approx(10)


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
    assert "dataset.path" in widget(panel, "configErrorLabel").text()  # csv needs a file
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


@pytest.mark.parametrize(("typed", "value"), [("0.02", 0.02), ("1e-3", 0.001), ("0.00001", 1e-5)])
def test_typing_a_learning_rate(panel, qtbot, typed, value):
    spin = widget(panel, "learningRateSpin")
    spin.lineEdit().selectAll()
    qtbot.keyClicks(spin.lineEdit(), typed)
    assert panel.config().learning_rate == pytest.approx(value)


def test_dataset_entries_read_the_config_names(panel):
    combo = widget(panel, "datasetCombo")
    names = [combo.itemText(i) for i in range(combo.count())]
    assert names == ["appendix-a", "moons", "circles", "blobs", "xor", "spiral", "iris", "digits", "csv"]
    assert all(combo.itemData(i, Qt.ItemDataRole.ToolTipRole) for i in range(combo.count()))
