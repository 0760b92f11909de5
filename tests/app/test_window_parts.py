"""The window's state announces its changes, so no view can go stale (issue #19's defects 1-5)."""

from __future__ import annotations

import numpy as np
import torch
from PySide6.QtGui import QKeySequence

from core.model import NeuralNetwork
from tests.app.helpers import widget

CTRL_RETURN = QKeySequence("Ctrl+Return")


def _csv(path, rows: int = 80, bad_row: int | None = None) -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(rows, 3))
    y = (x[:, 0] + x[:, 1] > 0).astype(int)
    lines = ["a,b,c,label"]
    for i, (row, label) in enumerate(zip(x, y, strict=True), start=1):
        cells = [f"{v:.4f}" for v in row]
        if bad_row == i:
            cells[1] = "oops"
        lines.append(",".join(cells) + f",{label}")
    path.write_text("\n".join(lines) + "\n")


def _choose(window, name: str, data: str) -> None:
    combo = widget(window, name)
    combo.setCurrentIndex(combo.findData(data))


def test_the_train_button_keeps_ctrl_return_in_every_state(window, train, tmp_path):
    button = widget(window, "trainButton")
    assert button.shortcut() == CTRL_RETURN and button.text() == "Train"
    train(window)
    assert button.text() == "Continue training" and button.shortcut() == CTRL_RETURN
    widget(window, "hiddenSizesEdit").setText("8")
    assert button.text() == "Train (new model)" and button.shortcut() == CTRL_RETURN
    window.reset_model()
    assert button.text() == "Train" and button.shortcut() == CTRL_RETURN
    torch.manual_seed(123)
    path = tmp_path / "book.pth"
    torch.save(NeuralNetwork(2, 2).state_dict(), path)
    assert window.load_model(path)
    assert button.text() == "Continue training" and button.shortcut() == CTRL_RETURN


def test_a_failed_start_leaves_no_view_of_the_dropped_model_and_adds_no_run(window, train, qtbot, tmp_path):
    good, bad = tmp_path / "good.csv", tmp_path / "bad.csv"
    _csv(good)
    _csv(bad, bad_row=4)
    _choose(window, "datasetCombo", "csv")
    widget(window, "csvPathEdit").setText(str(good))
    widget(window, "epochsSpin").setValue(3)
    assert train(window).status == "finished"
    table = widget(window, "predictionsTable")
    assert table.model().rowCount() > 0 and len(window.runs) == 1
    widget(window, "csvPathEdit").setText(str(bad))
    # The reason is under the field as soon as the data has been read, and Train waits for a fix.
    note = widget(window, "csvPathEditError")
    qtbot.waitUntil(lambda: "oops" in note.text(), timeout=60_000)
    assert "row 5" in note.text() and not widget(window, "trainButton").isEnabled()  # the header is row 1
    assert not window.start_training()
    status = widget(window, "statusLabel").text()
    assert "oops" in status and status.count("row 5") == 1
    assert table.model().rowCount() == 0 and window.predictions.confusion.counts() is None
    plot = window.data_plot
    assert plot.wrong_count() == 0 and not plot.legend.isVisible() and plot.points is None
    assert "PC1" not in plot.getPlotItem().getAxis("bottom").labelText
    assert len(window.runs) == 1 and widget(window, "resultTabs").tabText(1) == "Runs (1)"


def test_a_run_that_fails_to_start_drops_nothing_else_and_adds_no_run(window, train, qtbot, tmp_path):
    bad = tmp_path / "bad.csv"
    _csv(bad, bad_row=4)
    train(window)
    runs = len(window.runs)
    _choose(window, "datasetCombo", "csv")
    widget(window, "csvPathEdit").setText(str(bad))
    for _ in range(3):  # pressed at once, before the form has read the file: the run itself fails
        with qtbot.waitSignal(window.controller.runFinished, timeout=60_000):
            assert window.start_training()
    assert len(window.runs) == runs and widget(window, "predictionsTable").model().rowCount() == 0
    status = widget(window, "statusLabel").text()
    assert status.startswith("Error:") and "oops" in status
    assert not window.is_training() and not window.has_model()


def test_weights_that_cannot_take_the_chosen_data_say_train_makes_a_new_model(window, train, qtbot, tmp_path):
    train(window)
    assert "Epoch 3/3" in widget(window, "epochLabel").text()
    torch.manual_seed(123)
    path = tmp_path / "model.pth"
    torch.save(NeuralNetwork(2, 2).state_dict(), path)
    assert window.load_model(path)
    assert widget(window, "epochLabel").text() == ""  # the book's run's numbers are not the file's
    _choose(window, "datasetCombo", "iris")  # 4 features, 3 classes: these weights take 2 and give 2
    qtbot.waitUntil(lambda: "iris" in widget(window, "statusLabel").text(), timeout=60_000)
    assert widget(window, "trainButton").text() == "Train (new model)"
    assert widget(window, "epochLabel").text() == ""


def test_the_form_offers_every_optimizer_of_the_registry_and_momentum_where_it_applies(window):
    from core.optimizers import OPTIMIZER_SPECS

    combo, momentum = widget(window, "optimizerCombo"), widget(window, "momentumSpin")
    assert [combo.itemData(i) for i in range(combo.count())] == [s.name for s in OPTIMIZER_SPECS]
    for spec in OPTIMIZER_SPECS:
        _choose(window, "optimizerCombo", spec.name)
        assert momentum.isEnabled() == spec.momentum, spec.name
    _choose(window, "optimizerCombo", "rmsprop")
    assert window.form.config.optimizer == "rmsprop"
