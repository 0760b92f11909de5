"""Data beyond two features: the PCA projection, wrong predictions ringed, the confusion matrix, the table's column order."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt

from app.panels.predictions import PredictionsModel
from app.plots.colors import CLASS_COLORS, class_color
from app.plots.confusion import ConfusionMatrix
from app.plots.data_plot import DataPlot
from app.state.model_outputs import (
    DataPoints,
    PredictionTable,
    _randomized_svd,
    confusion_counts,
    data_points,
    predict_split,
    principal_components,
)
from core.config import DatasetConfig, TrainConfig
from tests.app.helpers import widget

# --- principal components (no Qt) -----------------------------------------------------------------


def test_principal_components_of_a_hand_made_matrix():
    # Spread 8 along x, 2 along y, none along z: PC1 = x, PC2 = y, 80% and 20% of the variance.
    X = np.array([[2.0, 0, 0], [-2, 0, 0], [0, 1, 0], [0, -1, 0]]) + [1.0, 2.0, 3.0]
    p = principal_components(X)
    np.testing.assert_allclose(p.mean, [1, 2, 3])
    np.testing.assert_allclose(np.abs(p.components), [[1, 0, 0], [0, 1, 0]], atol=1e-12)
    assert p.explained == pytest.approx((0.8, 0.2))
    np.testing.assert_allclose(p.apply(np.array([[2.0, 3.0, 8.0]])), [[1.0, 1.0]], atol=1e-12)


def test_principal_components_equal_numpys_eigenvectors_with_a_fixed_sign():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(300, 5)) @ rng.normal(size=(5, 5)) + rng.normal(size=5)
    p = principal_components(X)
    C = X - X.mean(axis=0)
    values, vectors = np.linalg.eigh(C.T @ C)  # ascending
    order = np.argsort(values)[::-1]
    for i in range(2):
        v = vectors[:, order[i]]
        v = v if v[np.argmax(np.abs(v))] > 0 else -v  # the convention: the largest loading positive
        np.testing.assert_allclose(p.components[i], v, atol=1e-10)
        assert p.explained[i] == pytest.approx(values[order[i]] / values.sum())
        assert p.components[i][np.argmax(np.abs(p.components[i]))] > 0
    # The same picture every time: mirrored data gets the same axes (its points mirrored).
    np.testing.assert_allclose(principal_components(-X).components, p.components, atol=1e-10)
    np.testing.assert_allclose(principal_components(X).components, p.components)


def test_wide_data_gets_the_same_components_from_the_randomized_svd():
    rng = np.random.default_rng(3)
    X = rng.normal(size=(600, 3)) @ (np.diag([10.0, 5.0, 2.0]) @ rng.normal(size=(3, 400))) + rng.normal(size=(600, 400)) * 0.1
    C = X - X.mean(axis=0)
    exact = np.linalg.svd(C, full_matrices=False)
    s, vt = _randomized_svd(C, 2, seed=0)
    np.testing.assert_allclose(s[:2], exact[1][:2], rtol=1e-6)
    np.testing.assert_allclose(np.abs(vt[:2] @ exact[2][:2].T), np.eye(2), atol=1e-6)
    p = principal_components(X)  # 600 x 400: above EXACT_SVD both ways, so randomized
    assert p.explained[0] > p.explained[1] > 0 and sum(p.explained) < 1


def test_one_feature_is_drawn_on_a_line():
    p = principal_components(np.array([[1.0], [3.0], [5.0]]))
    np.testing.assert_allclose(p.components, [[1.0], [0.0]])
    assert p.explained == pytest.approx((1.0, 0.0))
    np.testing.assert_allclose(p.apply(np.array([[5.0]])), [[2.0, 0.0]])


def _split(name: str, **options):
    from core.data import load_dataset

    return load_dataset(DatasetConfig(name=name, **options))


@pytest.mark.parametrize(("name", "features"), [("iris", 4), ("digits", 64)])
def test_data_of_more_features_is_projected(name, features):
    data = _split(name, standardize=True)
    points = data_points(data, key=name)
    n_train, n_test = data.X_train.shape[0], data.X_test.shape[0]
    assert points.num_features == features and points.projection is not None
    assert points.xy_train.shape == (n_train, 2) and points.xy_test.shape == (n_test, 2)
    assert points.bounds is None  # no decision regions for a projection
    assert points.projection.explained[0] >= points.projection.explained[1] > 0
    # The projection is the one fitted on the training split, applied to both splits.
    np.testing.assert_allclose(points.xy_test, points.projection.apply(data.X_test.numpy()), rtol=1e-6)
    assert np.abs(points.xy_train.mean(axis=0)).max() < 1e-6  # centred on the training split


def test_two_dimensional_data_is_drawn_as_it_is():
    data = _split("moons", samples=100)
    points = data_points(data)
    assert points.projection is None
    np.testing.assert_array_equal(points.xy_train, data.X_train.numpy())
    assert points.bounds is not None


def test_a_big_split_is_sampled_and_its_rows_known():
    import torch

    from core.data import DataSplit

    X = torch.randn(50_000, 6)
    y = (X[:, 0] > 0).long()
    data = DataSplit("big", X[:40_000], y[:40_000], X[40_000:], y[40_000:], tuple(f"f{i}" for i in range(6)), ("a", "b"), None)
    points = data_points(data, limit=1000)
    assert points.xy_train.shape == (1000, 2) and points.xy_test.shape == (1000, 2)
    assert (points.train_samples, points.test_samples) == (40_000, 10_000)
    np.testing.assert_array_equal(points.y_test, y[40_000:].numpy()[points.test_index])


# --- confusion counts -----------------------------------------------------------------------------


def test_confusion_counts_equal_a_hand_count():
    true = np.array([0, 0, 1, 1, 1, 2, 2, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, 2, 2, 0, 2])
    counts = confusion_counts(true, pred, 3)
    assert counts.tolist() == [[1, 1, 0], [0, 2, 1], [1, 0, 3]]
    assert counts.sum() == 9 and np.trace(counts) == 6
    assert confusion_counts(np.array([0]), np.array([0]), 4).shape == (4, 4)  # classes that never occur


def test_predict_split_counts_the_whole_split():
    from core.training import Trainer

    trainer = Trainer(TrainConfig(dataset=DatasetConfig(name="iris", standardize=True), epochs=1))
    trainer.fit()
    preds = predict_split(trainer, limit=10)  # the table holds 10 rows, the counts all 30
    assert preds.features.shape[0] == 10 and preds.total == 30
    counts = preds.confusion_matrix()
    assert counts.shape == (3, 3) and counts.sum() == 30 and np.trace(counts) == preds.correct
    assert counts.tolist() == confusion_counts(trainer.data.y_test.numpy(), preds.all_predicted, 3).tolist()
    assert preds.key == trainer.cfg.dataset


# --- the views ------------------------------------------------------------------------------------


def _points(xy_test, y_test, key="k", projection=True) -> DataPoints:
    from app.state.model_outputs import principal_components

    n = len(y_test)
    return DataPoints(
        key=key, xy_train=np.zeros((0, 2)), y_train=np.zeros(0, dtype=np.int64), xy_test=np.asarray(xy_test, float),
        y_test=np.asarray(y_test), num_features=3 if projection else 2, feature_names=("a", "b", "c"), class_count=3,
        standardized=False, bounds=None if projection else ((0.0, 1.0), (0.0, 1.0)), train_samples=0, test_samples=n,
        train_index=np.zeros(0, dtype=np.int64), test_index=np.arange(n),
        projection=principal_components(np.eye(3)) if projection else None,
    )


def _table(true, predicted, key="k", k=3) -> PredictionTable:
    n = len(true)
    logits = np.eye(k)[predicted]
    return PredictionTable(
        features=np.zeros((n, 3)), logits=logits, probabilities=logits, predicted=np.asarray(predicted),
        true=np.asarray(true), feature_names=("a", "b", "c"), class_names=tuple(f"class {i}" for i in range(k)),
        total=n, correct=int((np.asarray(true) == predicted).sum()),
        confusion=confusion_counts(true, predicted, k), all_predicted=np.asarray(predicted), key=key,
    )


def test_wrong_predictions_are_ringed_on_the_plot(qtbot):
    plot = DataPlot()
    qtbot.addWidget(plot)
    true, pred = [0, 1, 2, 2, 1], [0, 2, 2, 0, 1]
    xy = [[0, 0], [1, 1], [2, 2], [3, 3], [4, 4]]
    plot.set_points(_points(xy, true))
    assert plot.getPlotItem().titleLabel.text == DataPlot.TITLE_PROJECTED
    assert "PC1 (" in plot.getPlotItem().getAxis("bottom").labelText
    assert plot.point_counts() == (0, 5) and plot.wrong_count() == 0
    plot.set_predictions(_table(true, pred))
    assert plot.wrong_count() == 2
    np.testing.assert_array_equal(np.sort(plot.wrong.data["x"]), [1, 3])
    assert plot.legend.isVisible()
    plot.set_predictions(_table(true, pred, key="other data"))  # predictions of other data ring nothing
    assert plot.wrong_count() == 0 and not plot.legend.isVisible()
    plot.set_predictions(_table(true, pred))
    plot.set_points(_points(xy, true, projection=False))  # 2-D data: rings too (the same key)
    assert plot.is_2d and plot.wrong_count() == 2
    plot.set_predictions(None)
    assert plot.wrong_count() == 0


def test_confusion_matrix_widget_shows_the_counts(qtbot):
    matrix = ConfusionMatrix()
    qtbot.addWidget(matrix)
    matrix.resize(260, 180)
    matrix.show()
    assert matrix.objectName() == "confusionMatrix" and matrix.accessibleName() == "Confusion matrix"
    assert matrix.counts() is None
    true, pred = [0, 0, 1, 1, 1, 2, 2, 2, 2], [0, 1, 1, 1, 2, 2, 2, 0, 2]
    matrix.set_table(_table(true, pred))
    assert matrix.counts().tolist() == [[1, 1, 0], [0, 2, 1], [1, 0, 3]]
    assert matrix.title() == "Confusion matrix: 66.7% correct"
    for t in range(3):
        for p in range(3):
            assert matrix.cell_at(matrix.cell_center(t, p)) == (t, p)
    assert matrix.cell_text(2, 0) == "true class 2, predicted class 0: 1 sample(s) (25.0% of true class 2), wrong"
    assert "true class 1: 0 as class 0, 2 as class 1, 1 as class 2" in matrix.accessibleDescription()
    assert not matrix.grab().isNull()


def test_confusion_matrix_of_a_thousand_classes_is_one_image(qtbot):
    matrix = ConfusionMatrix()
    qtbot.addWidget(matrix)
    matrix.resize(240, 200)
    rng = np.random.default_rng(0)
    true = rng.integers(0, 1000, 5000)
    matrix.set_table(_table(true, true, k=1000))
    assert matrix.counts().shape == (1000, 1000) and matrix.counts().sum() == 5000
    assert not matrix.grab().isNull()


def test_the_table_shows_the_classes_first():
    model = PredictionsModel()
    table = _table([0, 1], [0, 2])
    model.set_table(table)
    headers = [model.headerData(c, Qt.Orientation.Horizontal) for c in range(model.columnCount())]
    assert headers[:4] == ["#", "predicted", "true", "correct"]
    assert headers[4:7] == ["p(class 0)", "p(class 1)", "p(class 2)"]
    assert headers[7:10] == ["logit class 0", "logit class 1", "logit class 2"]
    assert headers[10:] == ["a", "b", "c"]
    assert [model.text(1, c) for c in range(4)] == ["2", "class 2", "class 1", "no"]


def test_palette_keeps_okabe_ito_and_tells_twelve_classes_apart():
    assert CLASS_COLORS[:8] == [(0, 114, 178), (230, 159, 0), (0, 158, 115), (204, 121, 167), (86, 180, 233),
                                (213, 94, 0), (240, 228, 66), (0, 0, 0)]
    assert len(set(CLASS_COLORS)) == len(CLASS_COLORS) >= 12
    lab = _lab(np.array(CLASS_COLORS, dtype=float) / 255)
    distance = np.sqrt(((lab[:, None] - lab[None]) ** 2).sum(-1)) + np.eye(len(lab)) * 1e9
    # The added colours bring no pair closer than Okabe-Ito's own closest (blue and sky blue, 26 in CIE76).
    assert distance.min() == pytest.approx(distance[:8, :8].min()) and distance[8:].min() > 30
    assert class_color(len(CLASS_COLORS)) == class_color(0)  # repeated beyond


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB in 0..1 -> CIE L*a*b* (D65)."""
    linear = np.where(rgb > 0.04045, ((rgb + 0.055) / 1.055) ** 2.4, rgb / 12.92)
    xyz = linear @ np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]]).T
    t = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(t > 0.008856, np.cbrt(t), 7.787 * t + 16 / 116)
    return np.stack([116 * f[:, 1] - 16, 500 * (f[:, 0] - f[:, 1]), 200 * (f[:, 1] - f[:, 2])], axis=-1)


# --- the real window ------------------------------------------------------------------------------


def _train(window, qtbot, cfg: TrainConfig) -> None:
    window.config_panel.set_config(cfg)
    with qtbot.waitSignal(window.controller.runFinished, timeout=60_000):
        assert window.start_training()


def test_iris_after_training_shows_a_projection_and_a_confusion_matrix(window, qtbot, tmp_path):
    _train(window, qtbot, TrainConfig(dataset=DatasetConfig(name="iris", standardize=True), epochs=2, batch_size=8))
    plot = window.data_plot
    assert plot.points is not None and plot.points.projection is not None
    assert plot.message.toPlainText() == "" and plot.point_counts() == (120, 30)
    preds = window.predictions.current()
    matrix = widget(window, "confusionMatrix")
    qtbot.waitUntil(lambda: matrix.counts() is not None, timeout=60_000)
    assert matrix.counts().shape == (3, 3) and matrix.counts().sum() == 30 == preds.total
    assert np.trace(matrix.counts()) == preds.correct
    assert plot.wrong_count() == preds.total - preds.correct  # every test point drawn: one ring per error
    table = widget(window, "predictionsTable")
    headers = [table.model().headerData(c, Qt.Orientation.Horizontal) for c in range(4)]
    assert headers == ["#", "predicted", "true", "correct"]
    # Reset clears the rings with the table; the same model opened from a file brings both back.
    errors, path = plot.wrong_count(), tmp_path / "iris.pt"
    assert window.save_model(path)
    window.reset_model()
    assert plot.wrong_count() == 0 and matrix.counts() is None
    assert window.load_model(path)
    qtbot.waitUntil(lambda: matrix.counts() is not None, timeout=60_000)
    assert matrix.counts().sum() == 30 and plot.wrong_count() == errors


def test_digits_classes_are_visible_without_scrolling(window, qtbot):
    window.resize(1280, 800)
    _train(window, qtbot, TrainConfig(dataset=DatasetConfig(name="digits", standardize=True), epochs=1, batch_size=64))
    table = widget(window, "predictionsTable")
    assert table.model().columnCount() == 4 + 10 + 10 + 64
    view = table.viewport().width()
    for column in (1, 2):  # predicted, true
        assert table.columnViewportPosition(column) + table.columnWidth(column) <= view
    matrix = widget(window, "confusionMatrix")
    assert matrix.counts().shape == (10, 10) and matrix.counts().sum() == window.predictions.current().total
    assert window.data_plot.points.projection is not None
    assert window.data_plot.wrong_count() == window.predictions.current().total - window.predictions.current().correct


def test_few_rows_of_many_features_get_the_svds_components():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(50, 3)) @ (np.diag([6.0, 3.0, 1.0]) @ rng.normal(size=(3, 400)))  # 50 rows, 400 features
    p = principal_components(X)
    vt = np.linalg.svd(X - X.mean(axis=0), full_matrices=False)[2]
    np.testing.assert_allclose(np.abs(p.components @ vt[:2].T), np.eye(2), atol=1e-8)
