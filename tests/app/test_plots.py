"""The plots' own machinery: the loss curve's min/max levels, what it draws for a view, still axes
during a run, and the predictions table model."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PySide6.QtCore import Qt

from app.panels.predictions import PredictionsModel
from app.plots.loss import DRAWN_POINTS, LossPlot
from app.state.curves import GrowingBuffer, PeakLevels
from app.state.model_outputs import PredictionTable
from core.events import EpochEnd
from tests.app.helpers import widget


def _brute(values: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    blocks = [values[k : k + size] for k in range(0, len(values), size)]
    return np.array([np.nanmin(b) if not np.all(np.isnan(b)) else np.nan for b in blocks]), np.array(
        [np.nanmax(b) if not np.all(np.isnan(b)) else np.nan for b in blocks]
    )


@settings(max_examples=60, deadline=None)
@given(
    chunks=st.lists(st.integers(1, 700), min_size=1, max_size=25),
    target=st.sampled_from([8, 64, 256]),
    seed=st.integers(0, 2**31 - 1),
)
def test_levels_equal_a_fresh_min_max_after_any_appends(chunks, target, seed):
    rng = np.random.default_rng(seed)
    values = GrowingBuffer()
    levels = PeakLevels(target)
    for n in chunks:
        new = rng.normal(size=n)
        new[rng.random(n) < 0.01] = np.nan  # a diverged batch now and then
        first = len(values)
        values.extend(new)
        levels.update(values.view(), first)
    v = values.view()
    size = 1
    for lo, hi in zip(levels._mins, levels._maxs, strict=True):
        size *= PeakLevels.FACTOR
        if not len(lo):
            break
        want_lo, want_hi = _brute(v, size)
        np.testing.assert_array_equal(lo.view(), want_lo)
        np.testing.assert_array_equal(hi.view(), want_hi)
    # Drawing any range: few points, the range's ends, and exactly its extremes.
    steps = np.arange(1, len(v) + 1, dtype=np.float64)
    for i0, i1 in ((0, len(v)), (len(v) // 3, len(v)), (len(v) // 5, max(len(v) // 5 + 1, len(v) // 2))):
        idx, y = levels.select(v, i0, i1)
        x = steps[idx]
        assert len(x) <= max(target, i1 - i0) + 1
        assert x[0] == steps[i0] or i1 - i0 > target  # a block may start before the range
        assert x[-1] == steps[i1 - 1]
        part = v[i0:i1]
        if not np.all(np.isnan(part)):
            assert np.nanmax(y) >= np.nanmax(part) and np.nanmin(y) <= np.nanmin(part)


@pytest.fixture
def loss_plot(qtbot):
    plot = LossPlot()
    qtbot.addWidget(plot)
    plot.resize(800, 400)
    plot.show()
    qtbot.waitExposed(plot)
    return plot


def _feed(plot, n, start=1, chunk=5_000):
    for lo in range(start, start + n, chunk):
        steps = np.arange(lo, min(lo + chunk, start + n), dtype=np.float64)
        plot.append_batches(steps, 1.0 / np.sqrt(steps))


def test_a_long_history_is_drawn_from_few_points_and_zooming_in_shows_every_loss(loss_plot, qtbot):
    _feed(loss_plot, 300_000)
    x, y = loss_plot.batch_curve.getData()
    assert len(x) <= DRAWN_POINTS + 1 and x[0] == 1 and x[-1] == 300_000
    assert y.max() == 1.0 and y.min() == pytest.approx(1 / np.sqrt(300_000))
    assert len(loss_plot.batch_losses()) == 300_000  # the data itself is all there
    loss_plot.getPlotItem().setXRange(1000, 1500, padding=0)
    x, y = loss_plot.batch_curve.getData()
    inside = (x >= 1000) & (x <= 1500)
    np.testing.assert_array_equal(x[inside], np.arange(1000, 1501))  # every batch, no longer min/max pairs
    np.testing.assert_allclose(y[inside], 1.0 / np.sqrt(np.arange(1000, 1501)))


def test_axes_hold_still_during_a_run_and_follow_the_data_after(loss_plot, qtbot):
    loss_plot.begin_run(1, 10_000)
    _feed(loss_plot, 2_000, chunk=200)
    vb = loss_plot.getPlotItem().getViewBox()
    (x0, x1), (y0, y1) = vb.viewRange()
    assert x0 <= 1 and x1 >= 10_000  # the whole run, from its start
    assert y0 <= 0.0 < 1.0 < y1  # 0 up to the highest loss
    _feed(loss_plot, 2_000, start=2_001, chunk=200)
    loss_plot.append_epochs([EpochEnd(1, 4_000, 0.1, 0.1, 0.9, 0.9, 1.0)])
    assert vb.viewRange() == [[x0, x1], [y0, y1]]  # a falling loss moves no axis
    loss_plot.append_batches(np.array([4_001.0]), np.array([5.0]))  # a loss above the top raises it
    assert vb.viewRange()[1][1] > 5.0
    loss_plot.end_run()
    qtbot.waitUntil(lambda: vb.viewRange()[0][1] < 10_000, timeout=60_000)  # x fits the data again


def test_predictions_model_formats_cells_only_on_request_and_marks_wrong_rows(qtbot):
    model = PredictionsModel()
    table = PredictionTable(
        features=np.array([[1.5, -2.0], [0.25, 3.0]]),
        logits=np.array([[2.0, -1.0], [0.5, 1.5]]),
        probabilities=np.array([[0.9526, 0.0474], [0.2689, 0.7311]]),
        predicted=np.array([0, 1]),
        true=np.array([0, 0]),
        feature_names=("x1", "x2"),
        class_names=("a", "b"),
        total=2,
        correct=1,
    )
    model.set_table(table)
    assert (model.rowCount(), model.columnCount()) == (2, 10)
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(10)]
    assert headers == ["#", "predicted", "true", "correct", "p(a)", "p(b)", "logit a", "logit b", "x1", "x2"]
    row = [model.data(model.index(1, c)) for c in range(10)]
    assert row == ["2", "b", "a", "no", "0.2689", "0.7311", "0.5000", "1.5000", "0.25", "3"]
    assert model.data(model.index(0, 0), Qt.ItemDataRole.BackgroundRole) is None
    assert model.data(model.index(1, 0), Qt.ItemDataRole.BackgroundRole) is not None  # wrong: shaded
    model.set_table(None)
    assert (model.rowCount(), model.columnCount()) == (0, 0)


def test_a_run_lays_out_its_axes_at_the_click(window, qtbot, train):
    loss_vb = window.loss_plot.getPlotItem().getViewBox()
    acc_vb = window.accuracy_plot.getPlotItem().getViewBox()
    with qtbot.waitSignal(window.controller.runFinished, timeout=60_000):
        assert window.start_training()
        # Before the worker has sent anything: the book's 3 epochs of 2 batches are already on the axes.
        (x0, x1), _ = loss_vb.viewRange()
        assert x0 <= 1 and 6 <= x1 < 7
        (e0, e1), _ = acc_vb.viewRange()
        assert e0 <= 1 and 3 <= e1 < 3.5
    assert window.loss_plot.batch_steps().tolist() == [1, 2, 3, 4, 5, 6]
    widget(window, "epochsSpin").setValue(2)  # continuing: steps 7..10 and epochs 4..5 join the axes
    with qtbot.waitSignal(window.controller.runFinished, timeout=60_000):
        assert window.start_training()
        (x0, x1), _ = loss_vb.viewRange()
        assert x0 <= 1 and 10 <= x1 < 11
        (e0, e1), _ = acc_vb.viewRange()
        assert 5 <= e1 < 5.5
