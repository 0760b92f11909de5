"""Runs side by side through the real window (#12 parts 1-2): every run from fresh weights is kept, shown
on both plots, hidden, renamed, removed, its settings restored; smoothing, log y, x by step / epoch /
samples / time, the hover readout; the plots as PNG and SVG and the curves as CSV."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PySide6.QtCore import Qt

from tests.app.helpers import click, widget
from tests.tensorboard import tensorboard_ema

BOOK_LOSSES = [0.75, 0.65, 0.44, 0.13, 0.03, 0.00]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def reset(qtbot, window) -> None:
    click(qtbot, widget(window, "resetButton"))
    assert not window.has_model()


def table(window):
    window.view_tabs_bottom.setCurrentWidget(window.runs_panel)
    return widget(window, "runsTable")


def names_in_table(window) -> list[str]:
    t = table(window)
    return [t.item(row, 0).text() for row in range(t.rowCount())]


def row_of(window, run) -> int:
    t = table(window)
    rows = [row for row in range(t.rowCount()) if t.item(row, 0).data(Qt.ItemDataRole.UserRole) == run.id]
    assert len(rows) == 1
    return rows[0]


def shown_ys(plot) -> list[np.ndarray]:
    """The y data of every curve drawn and visible on a plot."""
    out = []
    for item in plot.getPlotItem().listDataItems():
        if not item.isVisible():
            continue
        _, y = item.getData()
        if y is not None and len(y):
            out.append(np.asarray(y, dtype=np.float64))
    return out


def shows(plot, y) -> bool:
    y = np.asarray(y, dtype=np.float64)
    return any(len(s) == len(y) and np.allclose(s, y, rtol=1e-6, equal_nan=True) for s in shown_ys(plot))


def legend_names(plot) -> list[str]:
    return [label.text for _, label in plot.legend.items]


def read_rows(path) -> list[dict]:
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = next(reader)
        assert header == ["run", "epoch", "batch", "step", "loss", "smoothed"]
        return [dict(zip(header, row, strict=True)) for row in reader]


def set_x(window, mode: str) -> None:
    combo = widget(window, "xAxisCombo")
    combo.setCurrentIndex(combo.findData(mode))
    assert window.loss_plot.x_mode == mode


@pytest.fixture
def two_runs(window, train, qtbot):
    """The book's run, Reset, learning rate 0.1, Train: (window, first run, second run)."""
    assert train(window).status == "finished"
    reset(qtbot, window)
    widget(window, "learningRateSpin").setValue(0.1)
    assert train(window).status == "finished"
    assert len(window.runs) == 2
    first, second = window.runs.runs
    return window, first, second


# --- the acceptance scenario ------------------------------------------------------------------------


def test_two_runs_smoothed_and_exported_as_csv(two_runs, tmp_path):
    window, first, second = two_runs
    widget(window, "smoothingSpin").setValue(0.6)
    path = tmp_path / "curves.csv"
    assert window.export_curves(path)
    rows = read_rows(path)
    runs = {}
    for r in rows:
        runs.setdefault(r["run"], []).append(r)
    assert list(runs) == [first.name, second.name] == ["run 1", "run 2"]
    losses = {name: [float(r["loss"]) for r in part] for name, part in runs.items()}
    assert np.round(losses["run 1"], 2).tolist() == BOOK_LOSSES
    assert len(losses["run 2"]) == 6 and np.round(losses["run 2"], 2).tolist() != BOOK_LOSSES
    assert losses["run 2"] == second.losses.view().tolist()
    for name, part in runs.items():
        smoothed = [float(r["smoothed"]) for r in part]
        np.testing.assert_allclose(smoothed, tensorboard_ema(losses[name], 0.6), rtol=0, atol=1e-6)
        assert [int(r["step"]) for r in part] == [1, 2, 3, 4, 5, 6]
        assert [int(r["epoch"]) for r in part] == [1, 1, 2, 2, 3, 3]
        assert [int(r["batch"]) for r in part] == [1, 2, 1, 2, 1, 2]
    assert "2 runs" in widget(window, "statusLabel").text()


# --- which Train makes a run --------------------------------------------------------------------------


def test_runs_survive_a_reset_and_stay_on_the_plots(window, train, qtbot):
    train(window)
    run1 = window.runs.runs[0]
    losses = run1.losses.view().copy()
    assert np.round(losses, 2).tolist() == BOOK_LOSSES
    reset(qtbot, window)
    assert window.runs.runs == [run1] and window.runs.current is None
    assert table(window).rowCount() == 1 and names_in_table(window) == ["run 1"]
    assert window.view_tabs_bottom.tabText(1) == "Runs (1)"
    # No live curve now, but run 1 is still drawn as an overlay, on both plots.
    assert len(window.batch_losses()) == 0
    assert run1.id in window.loss_plot._others
    assert shows(window.loss_plot, losses)
    acc = run1.epoch_column("test_acc")
    assert shows(window.accuracy_plot, acc)
    assert "run 1" in legend_names(window.loss_plot) and "run 1 (test)" in legend_names(window.accuracy_plot)


def test_continue_training_goes_on_in_the_same_run(window, train):
    train(window)
    assert window.train_mode() == "continue"
    train(window)
    assert len(window.runs) == 1
    run = window.runs.runs[0]
    assert len(run) == 12 and run.batch_x("step").tolist() == list(range(1, 13))
    assert np.round(run.losses.view()[:6], 2).tolist() == BOOK_LOSSES
    assert [e.epoch for e in run.epochs] == [1, 2, 3, 4, 5, 6]
    assert table(window).rowCount() == 1
    assert_increasing(run.batch_x("time"))
    assert run.batch_x("epoch").tolist() == [0.5 * k for k in range(1, 13)]


def assert_increasing(x) -> None:
    x = np.asarray(x)
    assert np.all(np.isfinite(x)) and np.all(np.diff(x) > 0), x


def test_a_change_that_needs_a_new_model_makes_a_new_run_and_says_what_changed(window, train):
    train(window)
    widget(window, "hiddenSizesEdit").setText("8")
    assert window.train_mode() == "new"
    train(window)
    assert len(window.runs) == 2
    first, second = window.runs.runs
    assert window.runs.current is second and second.cfg.hidden_sizes == (8,)
    assert second.changes == ["Hidden layer sizes 30, 20 → 8"]
    t = table(window)
    assert t.item(0, 1).text() == "first run"
    assert "Hidden layer sizes 30, 20 → 8" in t.item(1, 1).text()
    assert t.item(1, 0).text() == "run 2 (current)"
    assert "layers 8" in t.item(1, 3).text() and "layers 30, 20" in t.item(0, 3).text()
    assert "loss" in t.item(1, 2).text() and "epoch 3" in t.item(1, 2).text()
    # Both runs on the loss plot: run 1 as an overlay, run 2 live.
    assert shows(window.loss_plot, first.losses.view()) and shows(window.loss_plot, second.losses.view())
    assert first.color != second.color


# --- the runs panel ---------------------------------------------------------------------------------------


def test_unticking_a_run_hides_its_curves_on_both_plots(two_runs):
    window, first, second = two_runs
    t = table(window)
    loss_plot, acc_plot = window.loss_plot, window.accuracy_plot
    assert shows(loss_plot, first.losses.view()) and first.id in acc_plot._others
    overlay = acc_plot._others[first.id][1].item
    assert overlay.isVisible() and overlay.scene() is not None
    t.item(row_of(window, first), 0).setCheckState(Qt.CheckState.Unchecked)
    assert not first.visible
    assert not shows(loss_plot, first.losses.view())
    assert first.id not in loss_plot._others and first.id not in acc_plot._others
    assert overlay not in acc_plot.getPlotItem().listDataItems()
    assert "run 1" not in legend_names(loss_plot) and "run 1 (test)" not in legend_names(acc_plot)
    assert shows(loss_plot, second.losses.view())  # the other run stays
    # The current run hides too: its batch curve, its epoch curves, its accuracy.
    t.item(row_of(window, second), 0).setCheckState(Qt.CheckState.Unchecked)
    assert not shows(loss_plot, second.losses.view())
    assert not loss_plot.train_curve.isVisible() and not loss_plot.test_curve.isVisible()
    assert not acc_plot.train_curve.isVisible() and not acc_plot.test_curve.isVisible()
    assert shown_ys(acc_plot) == [] and legend_names(loss_plot) == []
    # And they come back.
    t.item(row_of(window, first), 0).setCheckState(Qt.CheckState.Checked)
    t.item(row_of(window, second), 0).setCheckState(Qt.CheckState.Checked)
    assert first.visible and second.visible
    assert shows(loss_plot, first.losses.view()) and shows(loss_plot, second.losses.view())
    assert first.id in acc_plot._others and acc_plot.test_curve.isVisible()


def test_renaming_a_run_renames_it_in_the_legend_and_table(two_runs):
    window, first, second = two_runs
    t = table(window)
    t.item(row_of(window, first), 0).setText("lr 0.5")
    assert first.name == "lr 0.5"
    assert "lr 0.5" in legend_names(window.loss_plot)
    assert "lr 0.5 (test)" in legend_names(window.accuracy_plot)
    assert t.item(row_of(window, first), 0).text() == "lr 0.5"
    t.item(row_of(window, second), 0).setText("lr 0.1 (current)")
    assert second.name == "lr 0.1"
    assert "lr 0.1" in legend_names(window.loss_plot)
    assert t.item(row_of(window, second), 0).text() == "lr 0.1 (current)"
    assert first.visible and second.visible  # renaming does not hide


def test_an_empty_name_is_refused_and_the_table_shows_the_name_again(two_runs):
    window, first, _ = two_runs
    t = table(window)
    t.item(row_of(window, first), 0).setText("   ")
    assert first.name == "run 1" and "run 1" in legend_names(window.loss_plot)
    assert t.item(row_of(window, first), 0).text() == "run 1"


def test_remove_button_forgets_the_selected_run(two_runs, qtbot):
    window, first, second = two_runs
    t = table(window)
    remove = widget(window, "removeRunButton")
    t.selectRow(row_of(window, first))
    click(qtbot, remove)
    assert window.runs.runs == [second]
    assert names_in_table(window) == ["run 2 (current)"]
    assert window.view_tabs_bottom.tabText(1) == "Runs (1)"
    assert not shows(window.loss_plot, first.losses.view())
    assert "run 1" not in legend_names(window.loss_plot) and "run 1 (test)" not in legend_names(window.accuracy_plot)
    assert shows(window.loss_plot, second.losses.view())


def test_removing_the_current_run_then_continuing_brings_its_history_back_as_a_run(window, train, qtbot):
    train(window)
    losses = window.runs.runs[0].losses.view().copy()
    table(window).selectRow(0)
    click(qtbot, widget(window, "removeRunButton"))
    assert len(window.runs) == 0 and table(window).rowCount() == 0
    assert not shows(window.loss_plot, losses) and window.has_model()  # the model stays
    assert train(window).status == "finished"  # Continue training
    assert len(window.runs) == 1
    run = window.runs.runs[0]
    assert len(run) == 12 and np.array_equal(run.losses.view()[:6], losses)
    assert run.batch_x("step").tolist() == list(range(1, 13))
    assert_increasing(run.batch_x("time"))


def test_restore_settings_puts_the_runs_config_back_in_the_form(two_runs, qtbot):
    window, first, second = two_runs
    lr = widget(window, "learningRateSpin")
    assert lr.value() == pytest.approx(0.1)
    widget(window, "hiddenSizesEdit").setText("4")
    table(window).selectRow(row_of(window, first))
    click(qtbot, widget(window, "restoreRunSettingsButton"))
    assert lr.value() == pytest.approx(0.5)
    assert widget(window, "hiddenSizesEdit").text() == "30, 20"
    assert window.config_panel.config() == first.cfg
    assert "run 1" in widget(window, "statusLabel").text()


# --- export ------------------------------------------------------------------------------------------------


def test_export_curves_writes_only_the_runs_shown(two_runs, tmp_path):
    window, first, second = two_runs
    table(window).item(row_of(window, first), 0).setCheckState(Qt.CheckState.Unchecked)
    path = tmp_path / "shown.csv"
    assert window.export_curves(path)
    rows = read_rows(path)
    assert {r["run"] for r in rows} == {"run 2"} and len(rows) == 6
    # Smoothing off: the smoothed column is the loss.
    assert [r["smoothed"] for r in rows] == [r["loss"] for r in rows]


def test_export_curves_to_an_unwritable_path_says_so_and_writes_nothing(window, train, tmp_path):
    train(window)
    folder = tmp_path / "out"
    folder.mkdir()
    before = sorted(p.name for p in tmp_path.rglob("*"))
    assert window.export_curves(folder) is False
    assert folder.is_dir() and not any(folder.iterdir())
    assert window.last_message is not None and window.last_message[0] == "Cannot export the curves"
    assert str(folder) in window.last_message[1]
    assert "Error" in widget(window, "statusLabel").text()
    assert window.export_curves(tmp_path / "no" / "such" / "curves.csv") is False
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no half-written or temporary file


@pytest.mark.parametrize("which", ["loss", "accuracy"])
def test_export_plot_as_png(two_runs, tmp_path, which):
    window, _, _ = two_runs
    png = tmp_path / f"{which}.png"
    assert window.export_plot(which, png)
    data = png.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert int.from_bytes(data[16:20], "big") == 1600  # IHDR width: the plot scaled up for a slide
    assert str(png) in widget(window, "statusLabel").text()





@pytest.mark.parametrize("which", ["loss", "accuracy"])
def test_export_plot_as_svg(two_runs, tmp_path, which):
    window, _, _ = two_runs
    svg = tmp_path / f"{which}.svg"
    assert window.export_plot(which, svg), window.last_message
    text = svg.read_text()
    assert "<svg" in text and "</svg>" in text
    assert str(svg) in widget(window, "statusLabel").text()


def test_a_png_that_cannot_be_written_is_reported(window, train, tmp_path):
    train(window)
    path = tmp_path / "no" / "such" / "loss.png"
    assert window.export_plot("loss", path) is False
    assert window.last_message is not None and window.last_message[0] == "Cannot export the plot"
    assert "Saved" not in widget(window, "statusLabel").text()


# --- curves like TensorBoard ---------------------------------------------------------------------------------


def test_smoothing_draws_the_debiased_ema_over_the_raw_curve(window, train):
    train(window)
    plot = window.loss_plot
    losses = window.batch_losses()
    smooth = plot._live.smooth.item
    assert not smooth.isVisible()
    widget(window, "smoothingSpin").setValue(0.6)
    assert plot.smoothing == 0.6 and smooth.isVisible()
    x, y = smooth.getData()
    assert x.tolist() == [1, 2, 3, 4, 5, 6]
    np.testing.assert_allclose(y, tensorboard_ema(losses, 0.6), rtol=1e-6)
    _, raw = plot.batch_curve.getData()
    assert np.array_equal(raw, losses)  # the raw curve stays, behind
    assert plot.batch_curve.isVisible() and plot.batch_curve.opts["pen"].color().alpha() < 255
    widget(window, "smoothingSpin").setValue(0.9)
    np.testing.assert_allclose(smooth.getData()[1], tensorboard_ema(losses, 0.9), rtol=1e-6)
    widget(window, "smoothingSpin").setValue(0.0)
    assert not smooth.isVisible()


def test_smoothing_applies_to_the_other_runs_too(two_runs):
    window, first, _ = two_runs
    widget(window, "smoothingSpin").setValue(0.6)
    assert shows(window.loss_plot, tensorboard_ema(first.losses.view(), 0.6))


def test_smoothing_set_before_a_run_smooths_it_as_it_trains(window, train):
    widget(window, "smoothingSpin").setValue(0.6)
    train(window)
    smooth = window.loss_plot._live.smooth.item
    assert smooth.isVisible()
    np.testing.assert_allclose(smooth.getData()[1], tensorboard_ema(window.batch_losses(), 0.6), rtol=1e-6)
    assert "batch loss (smoothed)" in legend_names(window.loss_plot)  # a single run: named by what it is


def test_log_scale_check_sets_the_plots_log_mode(window, train):
    train(window)
    vb = window.loss_plot.getPlotItem().getViewBox()
    check = widget(window, "logScaleCheck")
    assert not vb.state["logMode"][1]
    check.setChecked(True)
    assert vb.state["logMode"][1]
    _, y = window.loss_plot.batch_curve.getData()  # pyqtgraph hands back what it draws: log10 of the losses
    np.testing.assert_allclose(y, np.log10(window.batch_losses()), rtol=1e-9)
    assert window.loss_plot.getPlotItem().ctrl.logYCheck.isChecked()
    check.setChecked(False)
    assert not vb.state["logMode"][1]
    np.testing.assert_allclose(window.loss_plot.batch_curve.getData()[1], window.batch_losses())


def test_x_axis_by_epoch_samples_and_time(two_runs):
    window, first, second = two_runs
    plot = window.loss_plot
    assert plot.batch_curve.getData()[0].tolist() == [1, 2, 3, 4, 5, 6]
    set_x(window, "epoch")
    assert plot.batch_curve.getData()[0].tolist() == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]
    assert plot.getPlotItem().getAxis("bottom").labelText == "epoch"
    assert plot.train_curve.getData()[0].tolist() == [1, 2, 3]  # the epoch means at each epoch's end
    other = plot._others[first.id].raw.item.getData()[0]
    assert other.tolist() == [0.5, 1.0, 1.5, 2.0, 2.5, 3.0]  # the overlaid run follows
    set_x(window, "samples")
    assert plot.batch_curve.getData()[0].tolist() == [2, 4, 6, 8, 10, 12]
    assert plot.train_curve.getData()[0].tolist() == [4, 8, 12]
    assert plot._others[first.id].raw.item.getData()[0].tolist() == [2, 4, 6, 8, 10, 12]
    set_x(window, "time")
    x = plot.batch_curve.getData()[0]
    assert_increasing(x)
    assert x[0] > 0 and np.allclose(x, second.elapsed.view())
    assert_increasing(plot._others[first.id].raw.item.getData()[0])
    set_x(window, "step")
    assert plot.batch_curve.getData()[0].tolist() == [1, 2, 3, 4, 5, 6]


def test_hover_readout_names_run_step_epoch_and_losses(two_runs, qtbot):
    window, first, second = two_runs
    plot = window.loss_plot
    l1, l2 = first.losses.view(), second.losses.view()
    step = int(np.argmax(np.abs(l1 - l2)))  # where the two curves are furthest apart
    text = plot.readout(step + 1, l1[step])
    assert text.startswith("run 1 · ") and f"step {step + 1}" in text
    assert f"epoch {step // 2 + 1} batch {step % 2 + 1}" in text and f"loss {l1[step]:.4g}" in text
    text = plot.readout(step + 1, l2[step])
    assert text.startswith("run 2 · ") and f"step {step + 1}" in text
    widget(window, "smoothingSpin").setValue(0.6)
    s1 = tensorboard_ema(l1, 0.6)
    text = plot.readout(6, s1[5])
    assert "step 6" in text and f"loss {l1[5]:.4g}" in text and f"smoothed {s1[5]:.4g}" in text
    set_x(window, "samples")
    assert "step 3" in plot.readout(6, s1[2]) and "6 samples" in plot.readout(6, s1[2])
    # Through the mouse: a move over the plot fills the readout line.
    vb = plot.getPlotItem().getViewBox()
    set_x(window, "step")
    qtbot.wait(50)
    pos = vb.mapViewToScene(vb.viewRect().center())
    plot.scene().sigMouseMoved.emit(pos)
    label = widget(window, "curveReadoutLabel")
    qtbot.waitUntil(lambda: "step" in label.text(), timeout=60_000)
    assert label.text().startswith(("run 1", "run 2"))


@pytest.mark.parametrize(("mode", "x"), [("samples", 4.2), ("epoch", 1.05)])
def test_hover_readout_off_step_names_the_nearest_batch(two_runs, mode, x):
    window, first, _ = two_runs
    set_x(window, mode)
    text = window.loss_plot.readout(x, first.losses.view()[1])
    assert text.startswith("run 1 · step 2 · epoch 1 batch 2"), text


# --- a model file is a run ------------------------------------------------------------------------------------


def test_an_opened_model_file_comes_back_as_a_run_named_after_it(window, train, make_window, qtbot, tmp_path):
    train(window)
    losses = window.runs.runs[0].losses.view().copy()
    path = tmp_path / "book.pt"
    assert window.save_model(path)
    other = make_window()
    assert other.load_model(path)
    assert len(other.runs) == 1
    run = other.runs.runs[0]
    assert run.name == "book.pt" and run.source == str(path)
    assert np.array_equal(run.losses.view(), losses)
    assert run.epoch.view().tolist() == [1, 1, 2, 2, 3, 3]
    assert names_in_table(other) == ["book.pt (current)"]
    # In the window that saved it: after a Reset the file comes back beside the run it was saved from.
    reset(qtbot, window)
    assert window.load_model(path)
    assert [r.name for r in window.runs.runs] == ["run 1", "book.pt"]
    assert np.array_equal(window.runs.runs[1].losses.view(), losses)
    assert window.runs.runs[1].cfg == window.runs.runs[0].cfg
    # Trained on, the file's run goes on.
    assert train(window).status == "finished"
    assert len(window.runs) == 2 and len(window.runs.runs[1]) == 12
