"""The Layers and Units panels: they draw what core.insight measured, warn when told, and a click enlarges a unit."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QToolButton

from app.panels.layers import GRAD_FLOOR, LayersPanel, nice_ceiling
from app.panels.units import LUT, NEGATIVE, NO_HIDDEN_TEXT, POSITIVE, ZERO, UnitsPanel, colorize, not_2d_note
from core.insight import LayerStats, UnitSnapshot, unit_activations
from core.model import NeuralNetwork


def stats(epoch: int, weight=(3.0, 2.0, 1.0), grad=(0.1, 0.01, 0.2), dead=(1, 4), sizes=(4, 4)) -> LayerStats:
    names = (*(f"hidden {i + 1}" for i in range(len(sizes))), "output")
    return LayerStats(epoch=epoch, step=10 * epoch, linear_names=names, weight_norm=weight, grad_norm=grad,
                      hidden_sizes=sizes, dead_units=dead, loss=0.5, accuracy=0.8, predicted_counts=(5, 5),
                      label_counts=(5, 5), rows=10, train_samples=10)


def snapshot(epoch: int = 3, sizes=(3, 5), grid: int = 8, activation: str = "tanh") -> UnitSnapshot:
    rng = np.random.default_rng(epoch)
    images = tuple(rng.standard_normal((n, grid, grid)).astype(np.float32) for n in sizes)
    return UnitSnapshot(epoch=epoch, step=epoch * 10, x_range=(-1.0, 2.0), y_range=(-3.0, 1.0), images=images,
                        hidden_sizes=tuple(sizes), activation=activation, feature_names=("x1", "x2"))


@pytest.fixture
def layers(qtbot):
    panel = LayersPanel()
    qtbot.addWidget(panel)
    panel.resize(500, 600)
    panel.show()
    return panel


@pytest.fixture
def units(qtbot):
    panel = UnitsPanel()
    qtbot.addWidget(panel)
    panel.resize(640, 480)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


# --- Layers -----------------------------------------------------------------------------------------


def test_the_curves_are_the_stats(layers):
    assert layers.objectName() == "layersPanel"
    layers.add_stats([stats(0), stats(1, grad=(0.0, 0.5, 0.2))])
    layers.add_stats([stats(5, weight=(4.0, 2.5, 1.5), dead=(2, 4))])
    np.testing.assert_array_equal(layers.epochs(), [0, 1, 5])
    series = layers.series()
    np.testing.assert_array_equal(series["weight_norm"][:, 0], [3.0, 3.0, 4.0])
    np.testing.assert_array_equal(series["grad_norm"][:, 0], [0.1, GRAD_FLOOR, 0.1])  # an exact 0 at the floor
    np.testing.assert_array_equal(series["dead_percent"], [[25, 100], [25, 100], [50, 100]])
    x, y = layers._curves[0][2].getData()  # the output layer's weight norm as drawn
    np.testing.assert_array_equal(x, [0, 1, 5])
    np.testing.assert_array_equal(y, [1.0, 1.0, 1.5])
    assert len(layers._curves[2]) == 2  # dead units: hidden layers only
    assert "hidden 1" in layers.legend_label.text() and "output" in layers.legend_label.text()


def test_another_model_starts_the_curves_afresh_and_clear_forgets_all(layers):
    layers.add_stats([stats(0), stats(1)])
    layers.add_stats([stats(0, weight=(1.0, 1.0), grad=(0.1, 0.1), dead=(0,), sizes=(8,))])
    assert layers.series()["weight_norm"].shape == (1, 2)
    layers.set_warning("The run has collapsed: all 8 units of hidden layer 1 are dead.")
    layers.clear()
    assert layers.epochs().size == 0 and layers.warning() is None


def test_the_warning_shows_and_hides(layers):
    label = layers.findChild(type(layers.warning_label), "collapseWarningLabel")
    assert not label.isVisible()
    layers.set_warning("The run has collapsed: every prediction is class 1.")
    assert label.isVisible() and "every prediction is class 1" in label.text()
    assert layers.warning() == label.text()
    layers.set_warning(None)
    assert not label.isVisible() and layers.warning() is None


def test_a_network_without_relu_says_dead_units_are_not_counted(layers):
    layers.add_stats([stats(0, dead=None)])
    assert not layers.dead_plot.isVisible() and layers.not_relu_label.isVisible()
    layers.add_stats([stats(0)])
    assert layers.dead_plot.isVisible() and not layers.not_relu_label.isVisible()


def test_ranges_move_in_steps_and_the_epoch_span_holds(layers):
    assert [nice_ceiling(v) for v in (0.3, 1, 1.2, 2.5, 7, 9, 11, 2000)] == [1, 1, 1.5, 3, 8, 10, 15, 2000]
    layers.set_epoch_span(0, 200)
    layers.add_stats([stats(0), stats(7)])
    (x0, x1), _ = layers.weight_plot.getPlotItem().getViewBox().viewRange()
    assert x0 <= 0 and 200 <= x1 < 210
    layers.add_stats([stats(250)])  # past the span: the axis widens
    assert layers.weight_plot.getPlotItem().getViewBox().viewRange()[0][1] >= 250


# --- Units ------------------------------------------------------------------------------------------


def test_colours_are_orange_below_zero_and_blue_above():
    def rgb(a: np.ndarray) -> tuple[int, ...]:
        return tuple(int(v) for v in a[:3])

    rgba = colorize(np.array([[[-2.0, 0.0, 2.0, 1.0]]], dtype=np.float32))
    assert rgb(rgba[0, 0, 0]) == NEGATIVE and rgb(rgba[0, 0, 2]) == POSITIVE
    assert np.abs(np.subtract(rgb(rgba[0, 0, 1]), ZERO)).max() <= 2
    assert rgb(rgba[0, 0, 3]) == rgb(LUT[191])  # each unit its own scale: 1 of at most 2 is half way to blue
    dead = colorize(np.zeros((1, 2, 2), dtype=np.float32))  # a unit that outputs 0 everywhere: all grey
    assert (dead == LUT[128]).all()
    flipped = colorize(np.array([[[1.0], [-1.0]]], dtype=np.float32))  # row 0 is the lowest y: drawn last
    assert rgb(flipped[0, 1, 0]) == POSITIVE and rgb(flipped[0, 0, 0]) == NEGATIVE


def test_clicking_a_unit_enlarges_it(qtbot, units):
    assert units.objectName() == "unitsPanel"
    units.set_units(snapshot())
    assert not units.enlarged.isVisible()
    mosaic = units.mosaic
    qtbot.mouseClick(mosaic, Qt.MouseButton.LeftButton, pos=mosaic.tile_rect(1, 2).center())
    assert units.selected() == (1, 2)
    assert units.enlarged.isVisible()
    assert "Hidden layer 2, unit 3" in units.unit_title.text()
    np.testing.assert_array_equal(units.unit_image.image, colorize(snapshot().images[1][2][None])[0][::-1])
    # The enlarged unit follows the training.
    later = snapshot(epoch=9)
    units.set_units(later)
    assert units.selected() == (1, 2) and "epoch 9" in units.unit_title.text()
    np.testing.assert_array_equal(units.unit_image.image, colorize(later.images[1][2][None])[0][::-1])
    # Arrows walk the selection; the close button puts the enlarged view away.
    mosaic.setFocus()
    qtbot.keyClick(mosaic, Qt.Key.Key_Up)
    assert units.selected() == (0, 2)
    close = units.findChild(QToolButton, "unitCloseButton")
    qtbot.waitUntil(lambda: close.width() > 0, timeout=60_000)  # the enlarged view laid out by the event loop
    qtbot.mouseClick(close, Qt.MouseButton.LeftButton)
    assert units.selected() is None and not units.enlarged.isVisible()


def test_a_click_between_tiles_selects_nothing(qtbot, units):
    units.set_units(snapshot())
    rect = units.mosaic.tile_rect(0, 0)
    qtbot.mouseClick(units.mosaic, Qt.MouseButton.LeftButton, pos=rect.topRight() + QPoint(3, 1))  # in the gap
    assert units.selected() is None


def test_clear_and_the_notes(units):
    units.set_units(snapshot())
    units.select(0, 1)
    units.clear(not_2d_note(64))
    assert units.snapshot() is None and units.selected() is None and not units.enlarged.isVisible()
    assert "Units are shown for 2-D data" in units.note_label.text() and "64 features" in units.note_label.text()
    units.set_units(UnitSnapshot(0, 0, (0.0, 1.0), (0.0, 1.0), (), (), "relu"))
    assert units.note_label.text() == NO_HIDDEN_TEXT


def test_a_smaller_model_drops_a_selection_it_no_longer_has(units):
    units.set_units(snapshot(sizes=(3, 5)))
    units.select(1, 4)
    units.set_units(snapshot(sizes=(3, 2)))
    assert units.selected() is None


def test_wide_layers_show_their_first_units_and_scroll(units):
    model = NeuralNetwork(2, 2, (512, 512), "relu")
    snap = unit_activations(model, ((-1.0, 1.0), (-1.0, 1.0)), grid=16, activation="relu")
    assert snap.hidden_sizes == (512, 512) and [len(i) for i in snap.images] == [64, 64]
    units.set_units(snap)
    assert units.mosaic.minimumHeight() > units.scroll.viewport().height()  # it scrolls
    assert units.mosaic.unit_at(units.mosaic.tile_rect(1, 63).center()) == (1, 63)
