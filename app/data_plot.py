"""The data in the model's input space: points coloured by class over the model's decision regions."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QRectF
from PySide6.QtWidgets import QGraphicsItem

from app.colors import class_color
from app.model_views import DataPoints
from app.plots import _tidy


class DataPlot(pg.PlotWidget):
    """The training (dots) and test (triangles) points coloured by class, over the model's decision regions."""

    DEFAULT_TOOLTIP = (
        "The data in the model's input space (standardized when that option is on). Dots: training samples; "
        "triangles: test samples; the colour is the true class. The shaded background is the class the model "
        "predicts there (stronger = more confident)."
    )
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("dataPlot")
        self.setAccessibleName("Data plot")
        self.setToolTip(self.DEFAULT_TOOLTIP)
        item = self.getPlotItem()
        item.setTitle("Data and decision regions")
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
        self._class_count = 0
        self.is_2d = False
        self.shown_key = None  # what set_data was told it shows (a DatasetConfig), to skip redrawing it

    def clear_data(self) -> None:
        self.shown_key = None
        for scatter in self._items.values():
            scatter.clear()
        self.regions.clear()
        self.message.setText("")
        self.is_2d = False

    def show_message(self, text: str) -> None:
        self.clear_data()
        self.message.setText(text)
        self.message.setPos(0.5, 0.5)
        self.getPlotItem().setRange(xRange=(0, 1), yRange=(0, 1))

    def set_points(self, points: DataPoints) -> None:
        """Show a data set's points (sampled off the GUI thread); data that is not 2-D gets a note instead."""
        self.clear_data()
        self.shown_key = points.key
        if points.num_features != 2:
            self.show_message(f"{points.num_features} features: the scatter shows 2-D data only")
            self.shown_key = points.key
            return
        self.is_2d = True
        self._class_count = points.class_count
        suffix = " (standardized)" if points.standardized else ""
        item = self.getPlotItem()
        item.setLabel("bottom", f"{points.feature_names[0]}{suffix}")
        item.setLabel("left", f"{points.feature_names[1]}{suffix}")
        self._scatter("train", points.X_train, points.y_train)
        self._scatter("test", points.X_test, points.y_test)
        if points.bounds is not None:
            (x0, x1), (y0, y1) = points.bounds
            pad = [max((x1 - x0) * 0.08, 0.25), max((y1 - y0) * 0.08, 0.25)]
            item.setRange(xRange=(x0 - pad[0], x1 + pad[0]), yRange=(y0 - pad[1], y1 + pad[1]), padding=0)

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
        pen = pg.mkPen("k", width=1.2 if big else 0.6) if is_test else pg.mkPen("w", width=0.8 if big else 0.3)
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
