"""What the window shows around training: the data preview, plots built once, predictions, the status bar."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication

from tests.app.helpers import click, widget


def test_the_data_is_shown_before_training(window, qtbot):
    plot = window.data_plot
    assert plot.point_counts() == (5, 2)  # the book's 5 + 2 points
    combo = widget(window, "datasetCombo")
    combo.setCurrentIndex(combo.findData("moons"))
    widget(window, "samplesSpin").setValue(100)
    qtbot.waitUntil(lambda: sum(plot.point_counts()) == 100, timeout=60_000)
    combo.setCurrentIndex(combo.findData("digits"))  # 64 features: drawn on two principal components
    qtbot.waitUntil(lambda: plot.points is not None and plot.points.projection is not None, timeout=60_000)
    assert sum(plot.point_counts()) == 1797 and plot.message.toPlainText() == ""
    assert plot.getPlotItem().getAxis("bottom").labelText.startswith("PC1 (")


def test_curves_are_made_once_and_only_fed(window, train):
    item = window.loss_plot.getPlotItem()
    curves = list(item.listDataItems())
    batch_curve = window.loss_plot.batch_curve
    train(window)
    train(window)
    assert list(item.listDataItems()) == curves and window.loss_plot.batch_curve is batch_curve


def test_decision_regions_and_predictions_after_the_books_run(window, train, qtbot):
    train(window)
    image = window.data_plot.regions.image
    assert image is not None and image.shape[2] == 4
    widget(window, "predictInputEdit").setText("-1.0, 3.0")
    click(qtbot, widget(window, "predictButton"))
    assert widget(window, "predictResultLabel").text().startswith("class 0 (p = ")
    widget(window, "predictInputEdit").setText("2.5, x")
    click(qtbot, widget(window, "predictButton"))
    assert "'x' is not a number" in widget(window, "predictResultLabel").text()


def test_status_bar_shows_device_progress_speed_and_time(window, train):
    assert widget(window, "deviceLabel").text() == "Device: cpu"
    assert widget(window, "progressBar").text() == "no run yet"
    train(window)
    assert widget(window, "epochLabel").text() == "Epoch 3/3 · batch 2/2"
    assert widget(window, "speedLabel").text().endswith("samples/s")
    assert "elapsed" in widget(window, "timeLabel").text()
    assert widget(window, "progressBar").text() == "6 / 6 batches"


def test_window_title_tracks_the_file_and_unsaved_changes(window, train, tmp_path):
    assert window.windowTitle() == "untitled — Torch Playground"
    train(window)
    assert window.windowTitle() == "untitled* — Torch Playground"
    window.save_model(tmp_path / "book.pt")
    assert window.windowTitle() == "book.pt — Torch Playground"


def test_screenshot_script_writes_three_pngs(tmp_path, qapp):
    from app.devtools.screenshots import main

    assert main([str(tmp_path)]) == 0
    for name in ("before", "during", "after"):
        png = tmp_path / f"{name}.png"
        assert png.stat().st_size > 10_000, name


def test_messages_of_up_to_three_lines_move_no_widget(window, qtbot):
    """A status or accuracy text that wraps to fewer lines than the last one would shrink its label and
    lay the panel out again, repainting every setting beside it just as a run starts."""
    window.resize(1280, 800)
    status, accuracy = widget(window, "statusLabel"), widget(window, "predictionsAccuracyLabel")
    scroll = widget(window, "configScroll")
    table = widget(window, "predictionsTable")

    def geometry():
        for _ in range(4):  # a relayout is posted, level by level up to the window: let it all happen
            QCoreApplication.sendPostedEvents()
        return status.geometry(), scroll.geometry(), accuracy.geometry(), table.geometry()

    window._set_status("One line.")
    window.predictions.clear("Short.")
    before = geometry()
    from app.main_window import IDLE_TEXT  # wraps to two or three lines in the status line

    for text in ("Loading the data and building the model…", "a\nb\nc", IDLE_TEXT):
        window._set_status(text)
        assert geometry() == before, text
    window.predictions.clear("first line\nsecond line")
    assert geometry() == before
    # A longer message is not cut off: the label grows.
    window._set_status("\n".join(["line"] * 6))
    assert geometry()[0].height() > before[0].height()


def test_status_fields_do_not_narrow_while_numbers_change(window, qtbot):
    from app.panels.widgets import set_steady_text

    label = widget(window, "epochLabel")
    set_steady_text(label, "Epoch 10/12 · batch 100/500")
    wide = label.minimumWidth()
    assert wide >= label.fontMetrics().horizontalAdvance("Epoch 10/12 · batch 100/500")
    set_steady_text(label, "Epoch 1/12 · batch 1/500")
    assert label.minimumWidth() == wide and label.text() == "Epoch 1/12 · batch 1/500"
    window.reset_model()  # a reset lets the fields fit their text again
    assert label.minimumWidth() == 0 and label.text() == ""
