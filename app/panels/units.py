"""The Units panel: what each hidden unit learned, as TensorFlow Playground shows it: a small map of the unit's output over the 2-D input plane; a click enlarges one."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtCore import QPoint, QRect, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QImage, QKeyEvent, QMouseEvent, QPainter, QPaintEvent, QPen
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from core.insight import UnitSnapshot

# TensorFlow Playground's colours: orange below zero, blue above, a light grey at zero.
NEGATIVE = (245, 147, 34)
ZERO = (232, 234, 235)
POSITIVE = (8, 119, 189)
TILE = 44  # pixels a unit's map takes in the mosaic
GAP = 6
HEADER = 20  # a layer's title line
MARGIN = 6
NO_HIDDEN_TEXT = "This network has no hidden layer (logistic regression): there are no hidden units to show."
INTRO_TEXT = (
    "Each square is one hidden unit: its output over the input plane (the same plane as the decision regions). "
    "Blue is positive, orange negative, grey zero; each square has its own scale. Click one to enlarge it."
)


def not_2d_note(num_features: int) -> str:
    """What the panel says for data it cannot draw."""
    return (f"Units are shown for 2-D data: this data set has {num_features} features, so a unit's output "
            "cannot be drawn over a plane.")


def _lut() -> np.ndarray:
    """256 colours from orange (-1) through grey (0) to blue (+1)."""
    t = np.linspace(-1.0, 1.0, 256)[:, None]
    neg, zero, pos = (np.array(c, dtype=np.float64) for c in (NEGATIVE, ZERO, POSITIVE))
    rgb = np.where(t < 0, zero + (neg - zero) * -t, zero + (pos - zero) * t)
    return np.concatenate([np.round(rgb), np.full((256, 1), 255.0)], axis=1).astype(np.uint8)


LUT = _lut()


def unit_scale(values: np.ndarray) -> np.ndarray:
    """Each map's own scale: its largest |output| (0 for a unit that outputs 0 everywhere)."""
    return np.abs(values).reshape(len(values), -1).max(axis=1) if len(values) else np.zeros(0)


def colorize(values: np.ndarray) -> np.ndarray:
    """(units, h, w) outputs -> (units, h, w, 4) RGBA, each unit scaled by its own largest |output|;
    rows flipped so that the first row (lowest y) is drawn at the bottom."""
    scale = unit_scale(values)
    safe = np.where(scale > 0, scale, 1.0)[:, None, None]
    with np.errstate(invalid="ignore"):
        t = np.nan_to_num(values / safe, nan=0.0)
    idx = np.clip(np.rint((t + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(LUT[idx][:, ::-1])


class _Mosaic(QWidget):
    """Paints every shown unit's map as a tile, a row of tiles per hidden layer (wrapped to the width)."""

    clicked = Signal(int, int)  # layer, unit (0-based)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("unitsMosaic")
        self.setAccessibleName("Hidden units")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.snapshot: UnitSnapshot | None = None
        self._images: list[QImage] = []
        self._buffers: list[np.ndarray] = []  # the QImages' pixels: a QImage does not own a numpy buffer
        self._grid = 0
        self.selected: tuple[int, int] | None = None
        self._layout: list[tuple[int, int, int]] = []  # per layer: (top y, columns, shown units)

    def set_snapshot(self, snap: UnitSnapshot | None) -> None:
        self.snapshot = snap
        self._images, self._buffers = [], []
        if snap is not None:
            for values in snap.images:
                rgba = colorize(values)  # (u, g, g, 4)
                units, g = rgba.shape[0], rgba.shape[1]
                strip = np.ascontiguousarray(rgba.reshape(units * g, g, 4))
                self._buffers.append(strip)
                self._images.append(QImage(strip.data, g, units * g, 4 * g, QImage.Format.Format_RGBA8888))
                self._grid = g
        self._relayout()
        self.update()

    def tile_rect(self, layer: int, unit: int) -> QRect:
        """Where a unit's tile is drawn (widget coordinates)."""
        top, cols, _ = self._layout[layer]
        row, col = divmod(unit, cols)
        return QRect(MARGIN + col * (TILE + GAP), top + HEADER + row * (TILE + GAP), TILE, TILE)

    def unit_at(self, pos: QPoint) -> tuple[int, int] | None:
        for layer, (_, _, shown) in enumerate(self._layout):
            for unit in range(shown):
                if self.tile_rect(layer, unit).contains(pos):
                    return layer, unit
        return None

    def _columns(self) -> int:
        return max(1, (self.width() - 2 * MARGIN + GAP) // (TILE + GAP))

    def _relayout(self) -> None:
        snap = self.snapshot
        self._layout = []
        y = MARGIN
        cols = self._columns()
        if snap is not None:
            for values in snap.images:
                shown = len(values)
                self._layout.append((y, cols, shown))
                rows = max(1, -(-shown // cols))
                y += HEADER + rows * (TILE + GAP) + GAP
        self.setMinimumHeight(y + MARGIN if self._layout else 0)

    def sizeHint(self) -> QSize:
        return QSize(8 * (TILE + GAP) + 2 * MARGIN, self.minimumHeight() or 4 * (TILE + GAP))

    def resizeEvent(self, event) -> None:
        if self._layout and self._layout[0][1] != self._columns():
            self._relayout()
        super().resizeEvent(event)

    def paintEvent(self, event: QPaintEvent) -> None:
        snap = self.snapshot
        if snap is None:
            return
        painter = QPainter(self)
        exposed = event.rect()
        border = QPen(QColor(190, 190, 190))
        g = self._grid
        for layer, (top, _, shown) in enumerate(self._layout):
            total = snap.hidden_sizes[layer]
            title = f"Hidden layer {layer + 1} · {total} unit{'s' if total != 1 else ''}"
            if shown < total:
                title += f" (the first {shown} shown)"
            painter.setPen(QColor(40, 40, 40))
            header = QRect(MARGIN, top, self.width() - 2 * MARGIN, HEADER)
            painter.drawText(header, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, title)
            if layer == 0:  # painted, not a label: a label's new text would lay the panel out again
                painter.setPen(QColor(100, 100, 100))
                painter.drawText(header, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, f"epoch {snap.epoch}")
            image = self._images[layer]
            for unit in range(shown):
                rect = self.tile_rect(layer, unit)
                if not rect.intersects(exposed):
                    continue
                painter.drawImage(rect, image, QRect(0, unit * g, g, g))
                painter.setPen(border)
                painter.drawRect(rect.adjusted(0, 0, -1, -1))
        if self.selected is not None and self.selected[0] < len(self._layout) and \
                self.selected[1] < self._layout[self.selected[0]][2]:
            painter.setPen(QPen(QColor(20, 20, 20), 2))
            painter.drawRect(self.tile_rect(*self.selected).adjusted(-2, -2, 1, 1))
        painter.end()

    def mousePressEvent(self, event: QMouseEvent) -> None:
        hit = self.unit_at(event.position().toPoint())
        if hit is not None and event.button() == Qt.MouseButton.LeftButton:
            self.clicked.emit(*hit)
        super().mousePressEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        # Arrows walk the selection (left/right within a layer, up/down between layers) without a mouse.
        if self.selected is None or not self._layout:
            super().keyPressEvent(event)
            return
        layer, unit = self.selected
        key = event.key()
        if key == Qt.Key.Key_Right:
            unit += 1
        elif key == Qt.Key.Key_Left:
            unit -= 1
        elif key == Qt.Key.Key_Down:
            layer += 1
        elif key == Qt.Key.Key_Up:
            layer -= 1
        else:
            super().keyPressEvent(event)
            return
        layer = min(max(layer, 0), len(self._layout) - 1)
        unit = min(max(unit, 0), self._layout[layer][2] - 1)
        self.clicked.emit(layer, unit)


class UnitsPanel(QWidget):
    """TensorFlow Playground's view of the hidden units, fed by core.insight.UnitSnapshot.

    The window calls `set_units(snapshot)` with each snapshot (the newest of a drain is enough),
    `clear(note)` for a new model or data that is not 2-D (see `not_2d_note`). A click on a unit (or
    `select(layer, unit)`) shows it enlarged, with axes, beside the mosaic; it follows later snapshots.
    """

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("unitsPanel")
        self.setAccessibleName("What each unit learned")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.setSpacing(4)
        self.note_label = QLabel(INTRO_TEXT)
        self.note_label.setObjectName("unitsNoteLabel")
        self.note_label.setWordWrap(True)
        self.note_label.setStyleSheet("QLabel { color: #505050; }")
        layout.addWidget(self.note_label)
        self.mosaic = _Mosaic()
        self.mosaic.setToolTip("Click a unit to enlarge it; the arrow keys then move to its neighbours.")
        self.mosaic.clicked.connect(self.select)
        self.scroll = QScrollArea()
        self.scroll.setObjectName("unitsScroll")
        self.scroll.setWidgetResizable(True)
        self.scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.scroll.setWidget(self.mosaic)
        self.enlarged = self._build_enlarged()
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.scroll)
        self.splitter.addWidget(self.enlarged)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)
        layout.addWidget(self.splitter, 1)
        self.enlarged.setVisible(False)
        self._shown_rect: QRectF | None = None
        self._axis_names: tuple[str, str] | None = None

    def _build_enlarged(self) -> QWidget:
        box = QWidget()
        box.setObjectName("unitEnlarged")
        v = QVBoxLayout(box)
        v.setContentsMargins(0, 0, 0, 0)
        v.setSpacing(2)
        head = QHBoxLayout()
        self.unit_title = QLabel()
        self.unit_title.setObjectName("unitTitleLabel")
        self.unit_title.setWordWrap(True)
        head.addWidget(self.unit_title, 1)
        close = QToolButton()
        close.setObjectName("unitCloseButton")
        close.setText("✕")
        close.setToolTip("Close the enlarged unit")
        close.setAccessibleName("Close the enlarged unit")
        close.clicked.connect(lambda: self.select(None))
        head.addWidget(close, 0, Qt.AlignmentFlag.AlignTop)
        v.addLayout(head)
        self.unit_plot = pg.PlotWidget(background="w")
        self.unit_plot.setObjectName("unitEnlargedPlot")
        self.unit_plot.setAccessibleName("Enlarged unit")
        self.unit_plot.setMinimumSize(160, 160)
        item = self.unit_plot.getPlotItem()
        item.setMenuEnabled(False)
        for axis in ("left", "bottom"):
            item.getAxis(axis).enableAutoSIPrefix(False)
        self.unit_image = pg.ImageItem(axisOrder="row-major")
        item.addItem(self.unit_image)
        v.addWidget(self.unit_plot, 1)
        return box

    # --- public ------------------------------------------------------------------------------------

    def set_units(self, snap: UnitSnapshot) -> None:
        """Show a snapshot (it replaces the one shown)."""
        empty = not snap.images
        text = NO_HIDDEN_TEXT if empty else INTRO_TEXT
        if self.note_label.text() != text:  # a label that changes lays the panel out again: only when it must
            self.note_label.setText(text)
        self.mosaic.set_snapshot(None if empty else snap)
        selected = self.mosaic.selected
        if selected is not None and self._valid(*selected):
            self.select(*selected)  # the enlarged unit follows the training
        else:
            self.select(None)

    def clear(self, note: str = "") -> None:
        """Show nothing but `note` (the introduction when empty)."""
        self.note_label.setText(note or INTRO_TEXT)
        self.mosaic.set_snapshot(None)
        self.select(None)

    def snapshot(self) -> UnitSnapshot | None:
        return self.mosaic.snapshot

    def selected(self) -> tuple[int, int] | None:
        """The enlarged unit as (layer, unit), 0-based; None when none is."""
        return self.mosaic.selected

    def select(self, layer: int | None, unit: int = 0) -> None:
        """Enlarge hidden layer `layer`'s unit `unit` (0-based); `select(None)` closes the enlarged view."""
        if layer is None or not self._valid(layer, unit):
            self.mosaic.selected = None
            self.enlarged.setVisible(False)
            self.mosaic.update()
            return
        self.mosaic.selected = (layer, unit)
        snap = self.mosaic.snapshot
        values = snap.images[layer][unit]
        lo, hi = float(np.min(values)), float(np.max(values))
        self.unit_title.setText(
            f"<b>Hidden layer {layer + 1}, unit {unit + 1}</b> ({snap.activation or 'activation'} output "
            f"from {lo:.3g} to {hi:.3g}, epoch {snap.epoch})")
        self.unit_image.setImage(colorize(values[None])[0][::-1], autoLevels=False)
        (x0, x1), (y0, y1) = snap.x_range, snap.y_range
        g_y, g_x = values.shape
        dx, dy = (x1 - x0) / max(g_x - 1, 1), (y1 - y0) / max(g_y - 1, 1)
        rect = QRectF(x0 - dx / 2, y0 - dy / 2, dx * g_x, dy * g_y)
        self.unit_image.setRect(rect)
        item = self.unit_plot.getPlotItem()
        if snap.feature_names != self._axis_names:
            self._axis_names = snap.feature_names
            item.setLabel("bottom", snap.feature_names[0])
            item.setLabel("left", snap.feature_names[1])
        self.enlarged.setVisible(True)
        if rect != self._shown_rect:  # another plane: fit it; the same one keeps the user's zoom
            self._shown_rect = rect
            item.autoRange(padding=0)
        self.mosaic.update()

    # --- private -----------------------------------------------------------------------------------

    def _valid(self, layer: int, unit: int) -> bool:
        snap = self.mosaic.snapshot
        return snap is not None and 0 <= layer < len(snap.images) and 0 <= unit < len(snap.images[layer])
