"""The data in the model's input space: points coloured by class over the model's decision regions (2-D data),
or projected on their two principal components (other data); wrong predictions ringed."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF, Slot
from PySide6.QtWidgets import QGraphicsItem

from app.plots.colors import WRONG_COLOR, class_color
from app.plots.common import tidy as _tidy
from app.state.model_outputs import DataPoints, PredictionTable


class DataPlot(pg.PlotWidget):
    """The training (dots) and test (triangles) points coloured by class, over the model's decision regions."""

    DEFAULT_TOOLTIP = (
        "The data in the model's input space (standardized when that option is on). Dots: training samples; "
        "triangles: test samples; the colour is the true class. The shaded background is the class the model "
        "predicts there (stronger = more confident). Points the model predicts wrongly are ringed in red."
    )
    PROJECTION_TOOLTIP = (
        "The data has {f} features, so it is drawn on its first two principal components (PCA, fitted on {rows} "
        "training samples{std}): the plane that keeps most of the spread of the points. Axis labels say how much. "
        "Dots: training samples; triangles: test samples; the colour is the true class. Points the model "
        "predicts wrongly are ringed in red. There are no decision regions here: the model's classes live in "
        "{f} dimensions, and points close in this picture may be far apart in those."
    )
    TITLE_2D = "Data and decision regions"
    TITLE_PROJECTED = "Data: PCA projection"
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("dataPlot")
        self.setAccessibleName("Data plot")
        self.setToolTip(self.DEFAULT_TOOLTIP)
        item = self.getPlotItem()
        self._title = self.TITLE_2D
        item.setTitle(self.TITLE_2D)
        _tidy(item)
        item.showGrid(x=True, y=True, alpha=0.15)
        item.setAspectLocked(False)
        self.regions = pg.ImageItem(axisOrder="row-major")
        self.regions.setZValue(-10)
        item.addItem(self.regions)
        # One scatter item per split and class, each with a single brush: a per-point brush list made
        # pyqtgraph build a QBrush per point (70 ms for 5,000 points), while a uniform style is drawn
        # from one cached symbol. Made on demand and kept; the items are cached as pixmaps, so a
        # decision-region update during training does not redraw thousands of points.
        self._items: dict[tuple[str, int], pg.ScatterPlotItem] = {}
        self.message = pg.TextItem("", color="#404040", anchor=(0.5, 0.5))
        item.addItem(self.message)
        # Rings round the points the model predicts wrongly, above every point.
        self.wrong = pg.ScatterPlotItem(symbol="o", brush=None, name="wrong predictions")
        self.wrong.setZValue(5)
        item.addItem(self.wrong)
        # Says how many are ringed, in the top right corner (a title that long pushed the plot out of its place).
        self.legend = pg.LegendItem(offset=(-4, 4), brush=pg.mkBrush(255, 255, 255, 210), pen=pg.mkPen(200, 200, 200),
                                    labelTextColor=(40, 40, 40), labelTextSize="8pt")
        self.legend.setParentItem(item.getViewBox())
        self.legend.setVisible(False)
        self._class_count = 0
        self.is_2d = False  # the points are the features themselves (decision regions can be drawn)
        self.points: DataPoints | None = None
        self.predictions: PredictionTable | None = None
        self.shown_key = None  # what set_data was told it shows (a DatasetConfig), to skip redrawing it

    def clear_data(self) -> None:
        self.shown_key = None
        for scatter in self._items.values():
            scatter.clear()
        self.regions.clear()
        self.wrong.clear()
        self.legend.setVisible(False)  # "5 test points predicted wrongly" belonged to the points just cleared
        self.message.setText("")
        self.is_2d = False
        self.points = None
        self._set_title(self.TITLE_2D)
        item = self.getPlotItem()
        for side in ("bottom", "left"):  # "PC1 (94% of variance)" too
            if item.getAxis(side).labelText:
                item.setLabel(side, "")

    def show_message(self, text: str) -> None:
        self.clear_data()
        self.message.setText(text)
        self.message.setPos(0.5, 0.5)
        self.getPlotItem().setRange(xRange=(0, 1), yRange=(0, 1))

    def set_points(self, points: DataPoints) -> None:
        """Show a data set's points (sampled, and projected when not 2-D, off the GUI thread)."""
        self.clear_data()
        self.shown_key = points.key
        self.points = points
        self._class_count = points.class_count
        item = self.getPlotItem()
        suffix = " (standardized)" if points.standardized else ""
        p = points.projection
        if p is None:
            self.is_2d = True
            item.setLabel("bottom", f"{points.feature_names[0]}{suffix}")
            item.setLabel("left", f"{points.feature_names[1]}{suffix}")
            self.setToolTip(self.DEFAULT_TOOLTIP)
        else:
            item.setLabel("bottom", f"PC1 ({p.explained[0]:.0%} of variance)")
            item.setLabel("left", f"PC2 ({p.explained[1]:.0%} of variance)")
            self.setToolTip(self.PROJECTION_TOOLTIP.format(
                f=points.num_features, rows=f"{p.fit_rows:,}", std=", standardized" if points.standardized else ""))
        self._scatter("train", points.xy_train, points.y_train)
        self._scatter("test", points.xy_test, points.y_test)
        bounds = points.plane_bounds()
        if bounds is not None:
            (x0, x1), (y0, y1) = bounds
            pad = [max((x1 - x0) * 0.08, 0.25), max((y1 - y0) * 0.08, 0.25)]
            item.setRange(xRange=(x0 - pad[0], x1 + pad[0]), yRange=(y0 - pad[1], y1 + pad[1]), padding=0)
        self._mark_wrong()

    @Slot(object)
    def set_predictions(self, predictions: PredictionTable | None) -> None:
        """Ring the drawn points these predictions get wrong (when they are of the data drawn)."""
        self.predictions = predictions
        self._mark_wrong()

    def wrong_count(self) -> int:
        """How many points are ringed as wrongly predicted."""
        return len(self.wrong.data)

    def _mark_wrong(self) -> None:
        xy = self._wrong_points()
        base = self.TITLE_2D if self.points is None or self.points.projection is None else self.TITLE_PROJECTED
        self._set_title(base)
        if xy is None or not xy.shape[0]:
            self.wrong.clear()
            self.legend.setVisible(False)
            return
        big = max(self.points.xy_test.shape[0], self.points.xy_train.shape[0]) <= 100
        self.wrong.setData(x=xy[:, 0], y=xy[:, 1], size=20 if big else 13,
                           pen=pg.mkPen(WRONG_COLOR, width=2.0 if big else 1.5), brush=None)
        split = "test" if self.predictions.split == "test" else "training"
        text = f"{xy.shape[0]:,} {split} point{'s' if xy.shape[0] > 1 else ''} predicted wrongly"
        if self.legend.items:  # one entry, made once: rebuilding it laid the plot out again (~4 ms)
            self.legend.items[0][1].setText(text)
        else:
            self.legend.addItem(self.wrong, text)
        self.legend.setVisible(True)

    def _set_title(self, text: str) -> None:
        if text != self._title:  # a new title lays the plot out again
            self._title = text
            self.getPlotItem().setTitle(text)

    def _wrong_points(self) -> np.ndarray | None:
        """The plane coordinates of the drawn points of the predicted split whose prediction is wrong."""
        points, preds = self.points, self.predictions
        if points is None or preds is None or preds.key != points.key:
            return None
        if preds.split == "test":
            xy, y, index, rows = points.xy_test, points.y_test, points.test_index, points.test_samples
        else:
            xy, y, index, rows = points.xy_train, points.y_train, points.train_index, points.train_samples
        predicted = preds.all_predicted if preds.all_predicted is not None else preds.predicted
        if index is None or preds.total != rows or not xy.shape[0]:
            return None
        known = index < len(predicted)  # only the rows the table holds, when all_predicted is missing
        wrong = np.zeros(len(index), dtype=bool)
        wrong[known] = np.asarray(predicted)[index[known]] != y[known]
        return xy[wrong]

    def point_counts(self) -> tuple[int, int]:
        """(training, test) points drawn."""
        count = {"train": 0, "test": 0}
        for (split, _k), scatter in self._items.items():
            count[split] += len(scatter.data)
        return count["train"], count["test"]

    def _item(self, split: str, k: int) -> pg.ScatterPlotItem:
        scatter = self._items.get((split, k))
        if scatter is None:
            scatter = pg.ScatterPlotItem(symbol="t" if split == "test" else "o", name=f"{split} class {k}")
            scatter.setZValue(1 if split == "test" else 0)
            scatter.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)
            self.getPlotItem().addItem(scatter)
            self._items[(split, k)] = scatter
        return scatter

    def _scatter(self, split: str, X: np.ndarray, y: np.ndarray) -> None:
        # The book's 7 points want big markers; a thousand want small ones that do not hide each other.
        big = X.shape[0] <= 100
        is_test = split == "test"
        size = (13 if big else 8) if is_test else (9 if big else 5)
        # Many test triangles with black edges made a dark mass that hid the class colours: a faint edge.
        pen = (pg.mkPen("k", width=1.2) if big else pg.mkPen(30, 30, 30, 140, width=0.5)) if is_test else \
            pg.mkPen("w", width=0.8 if big else 0.3)
        for k in np.unique(y).tolist() if X.shape[0] else []:
            rows = y == k
            brush = pg.mkBrush(class_color(int(k), 255 if is_test else 230))
            self._item(split, int(k)).setData(x=X[rows, 0], y=X[rows, 1], brush=brush, size=size, pen=pen)

    def set_regions(self, predicted: np.ndarray, confidence: np.ndarray, x_range: tuple[float, float],
                    y_range: tuple[float, float]) -> None:
        """Shade each grid cell with its predicted class; more confident cells are stronger."""
        if not self.is_2d:
            return
        k = max(self._class_count, int(predicted.max()) + 1, 2)
        palette = np.array([class_color(i)[:3] for i in range(k)], dtype=np.float32)
        rgb = palette[predicted]
        # Confidence 1/k (a coin toss) is nearly clear, 1.0 is a soft tint.
        # A diverged model predicts nan: show it as no confidence rather than garbage.
        confidence = np.nan_to_num(confidence, nan=0.0)
        strength = np.clip((confidence - 1.0 / k) / (1.0 - 1.0 / k), 0.0, 1.0)
        alpha = (25 + 75 * strength).astype(np.float32)
        rgba = np.concatenate([rgb, alpha[..., None]], axis=-1).astype(np.uint8)
        self.regions.setImage(rgba, autoLevels=False)
        ny, nx = predicted.shape
        # Cell centres sit on the grid points, so the image extends half a cell beyond them.
        dx = (x_range[1] - x_range[0]) / max(nx - 1, 1)
        dy = (y_range[1] - y_range[0]) / max(ny - 1, 1)
        self.regions.setRect(QRectF(x_range[0] - dx / 2, y_range[0] - dy / 2, dx * nx, dy * ny))
