"""The confusion matrix: how many samples of each true class the model predicts as each class."""

from __future__ import annotations

import numpy as np
from PySide6.QtCore import QEvent, QPoint, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QToolTip, QWidget

from app.plots.colors import CLASS_COLORS
from app.state.model_outputs import PredictionTable

RIGHT = np.array(CLASS_COLORS[0], dtype=np.float64)  # blue: the diagonal, predicted right
WRONG = np.array((213, 94, 0), dtype=np.float64)  # vermillion: off the diagonal
EMPTY = np.array((248, 248, 248), dtype=np.uint8)
# Preferred side of a cell, by class count: the book's 2 classes get roomy cells, digits' 10 small ones.
CELL_SIZES = ((3, 56), (6, 32), (12, 20), (40, 6))  # more classes: about 220 px in all
LARGE_GRID = 160  # the preferred side of the cells of more than 40 classes (their counts are in tooltips)
MAX_PREFERRED_WIDTH = 300
CORNER = "true \\ pred"
MAX_DESCRIBED_CLASSES = 12  # the accessible description lists every cell up to this many classes


def _ramp(color: np.ndarray) -> np.ndarray:
    """(256, 3) uint8: from a pale tint of `color` (strength 0) to the colour itself (strength 1)."""
    white = np.full(3, 255.0)
    strength = np.linspace(0.0, 1.0, 256)[:, None]
    return np.round(white + (color - white) * (0.12 + 0.88 * strength)).astype(np.uint8)


# Every cell's colour: 256 steps off the diagonal, 256 on it, then the colour of an empty cell.
PALETTE = np.concatenate([_ramp(WRONG), _ramp(RIGHT), EMPTY[None]])


def cell_colors(counts: np.ndarray) -> np.ndarray:
    """(k, k, 3) uint8: each cell's share of its true class (its row), blue on the diagonal, vermillion off it.

    Off the diagonal the share is square-rooted, so a few errors in a big class are still seen. Colours
    come from two 256-step ramps (1,000 classes: a million cells in ~5 ms, not 70 ms of float maths)."""
    counts = np.asarray(counts)
    k = counts.shape[0]
    rows = np.maximum(counts.sum(axis=1), 1).astype(np.float32)
    share = np.sqrt(counts.astype(np.float32) / rows[:, None])
    index = np.rint(share * 255).astype(np.uint16)
    # The diagonal: its plain share, from the second ramp (rows 256..511).
    index[np.arange(k), np.arange(k)] = 256 + np.rint(np.diagonal(counts) / rows * 255).astype(np.uint16)
    index[counts == 0] = 512  # EMPTY, the last row
    return np.take(PALETTE, index, axis=0)


class ConfusionMatrix(QWidget):
    """Counts of (true class, predicted class) over the predicted split: rows true, columns predicted.

    Drawn as one image of k x k cells (any class count costs one drawImage), with the counts written in
    when they fit; hovering a cell tells its count and its share of the true class."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("confusionMatrix")
        self.setAccessibleName("Confusion matrix")
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Expanding)
        self.setMouseTracking(False)
        self._counts: np.ndarray | None = None
        self._names: list[str] = []
        self._image: QImage | None = None
        self._rgb: np.ndarray | None = None  # the image's buffer, kept alive as long as the image
        self._scaled: QImage | None = None  # the image made smaller, when cells are under a pixel
        self._title = "Confusion matrix"
        small = QFont(self.font())
        small.setPointSizeF(max(self.font().pointSizeF() - 1.0, 7.0))
        self._small = small
        self.set_table(None)

    # --- what it shows ----------------------------------------------------------------------------

    def set_table(self, preds: PredictionTable | None) -> None:
        if preds is None:
            self._counts, self._names, self._image, self._rgb = None, [], None, None
            self._scaled = None
            self._title = "Confusion matrix"
            self.setToolTip("The confusion matrix of the test split appears here with the predictions.")
            self.setAccessibleDescription("No predictions yet.")
        else:
            counts = preds.confusion_matrix()
            k = counts.shape[0]
            names = list(preds.class_names)
            self._names = names + [str(i) for i in range(len(names), k)] if len(names) <= k else names[:k]
            self._counts = counts
            self._rgb = cell_colors(counts)
            self._image = QImage(self._rgb.data, k, k, 3 * k, QImage.Format.Format_RGB888)
            self._scaled = None
            total, right = int(counts.sum()), int(np.trace(counts))
            acc = f"{right / total:.1%}" if total else "n/a"
            self._title = f"Confusion matrix: {acc} correct"
            rows = "all" if preds.confusion is not None else f"the first {total:,}"
            self.setToolTip(
                f"The confusion matrix of {rows} {total:,} samples of the {preds.split} split: each row is a true class, "
                "each column the class the model predicts. The diagonal (blue) counts right predictions; any other "
                "cell (orange) counts one kind of mistake, stronger for a larger share of that row's class. "
                "Hover a cell for its numbers."
            )
            self.setAccessibleDescription(self._describe(acc, total))
        self.updateGeometry()
        self.update()

    def counts(self) -> np.ndarray | None:
        """The (k, k) counts shown, rows true class, columns predicted (None before predictions)."""
        return self._counts

    def title(self) -> str:
        return self._title

    def _describe(self, acc: str, total: int) -> str:
        counts, names = self._counts, self._names
        text = f"{self._title}, {total:,} samples; rows are true classes, columns predicted ones."
        if counts.shape[0] <= MAX_DESCRIBED_CLASSES:
            text += " " + "; ".join(
                f"true {names[t]}: " + ", ".join(f"{int(counts[t, p])} as {names[p]}" for p in range(len(names)))
                for t in range(len(names)))
        return text

    # --- geometry ---------------------------------------------------------------------------------

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        k = 2 if self._counts is None else self._counts.shape[0]
        cell = next((size for most, size in CELL_SIZES if k <= most), 0)
        left = self._row_header_width()
        grid = k * cell if cell else LARGE_GRID
        bold = QFont(self.font())
        bold.setBold(True)
        title = QFontMetrics(bold).horizontalAdvance(self._title) + 6
        return QSize(min(max(left + 4 + grid, title), MAX_PREFERRED_WIDTH), 160)

    def minimumSizeHint(self) -> QSize:  # noqa: N802 - Qt's name
        return QSize(110, 90)

    def _row_header_width(self) -> int:
        fm = QFontMetrics(self._small)
        corner = fm.horizontalAdvance(CORNER)
        widest = max((fm.horizontalAdvance(n) for n in self._names[:64]), default=corner)
        return min(max(widest, corner) + 8, 90)

    def _layout(self) -> tuple[QRect, QRect, QRectF]:
        """(title line, column-name band, the cells' rectangle), fitted to the widget.

        Cells need not be square: the panel is wide and short, and digits' ten rows are only ~14 px high,
        so wider cells keep their counts readable; neither side is more than twice the other."""
        fm = self.fontMetrics()
        line = fm.height()
        title = QRect(0, 0, self.width(), line + 2)
        k = 1 if self._counts is None else self._counts.shape[0]
        left = self._row_header_width()
        top = title.bottom() + 2 + line + 2
        w, h = max(self.width() - left - 4, 1) / k, max(self.height() - top - 2, 1) / k
        w, h = min(w, 2 * h), min(h, 2 * w)
        if w >= 1 and h >= 1:
            w, h = float(int(w)), float(int(h))  # whole pixels: crisp cell borders
        grid = QRectF(left, top, w * k, h * k)
        header = QRect(left, title.bottom() + 2, int(grid.width()), line)
        return title, header, grid

    def cell_at(self, pos: QPoint) -> tuple[int, int] | None:
        """(true, predicted) of the cell under a widget position, or None."""
        if self._counts is None:
            return None
        grid = self._layout()[2]
        if not grid.contains(pos.toPointF() if hasattr(pos, "toPointF") else pos):
            return None
        k = self._counts.shape[0]
        t = min(int((pos.y() - grid.top()) * k / grid.height()), k - 1)
        p = min(int((pos.x() - grid.left()) * k / grid.width()), k - 1)
        return t, p

    def cell_center(self, true: int, predicted: int) -> QPoint:
        """The widget position of a cell's centre (for tests and tools)."""
        grid = self._layout()[2]
        k = self._counts.shape[0]
        return QPoint(int(grid.left() + (predicted + 0.5) * grid.width() / k),
                      int(grid.top() + (true + 0.5) * grid.height() / k))

    def cell_text(self, true: int, predicted: int) -> str:
        c = self._counts
        row = int(c[true].sum())
        share = f" ({c[true, predicted] / row:.1%} of true {self._names[true]})" if row else ""
        verdict = "right" if true == predicted else "wrong"
        return (f"true {self._names[true]}, predicted {self._names[predicted]}: {int(c[true, predicted]):,} "
                f"sample(s){share}, {verdict}")

    def event(self, event) -> bool:
        if event.type() == QEvent.Type.ToolTip:
            cell = self.cell_at(event.pos())
            if cell is not None:
                QToolTip.showText(event.globalPos(), self.cell_text(*cell), self)
                return True
        return super().event(event)

    # --- drawing ----------------------------------------------------------------------------------

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt's name
        painter = QPainter(self)
        try:
            self._paint(painter)
        finally:
            painter.end()

    def _paint(self, painter: QPainter) -> None:
        title, header, grid = self._layout()
        pal = self.palette()
        text_color = pal.color(pal.ColorRole.WindowText)
        bold = QFont(self.font())
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(text_color)
        fm = painter.fontMetrics()
        painter.drawText(title, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(self._title, Qt.TextElideMode.ElideRight, title.width()))
        painter.setFont(self._small)
        if self._counts is None:
            painter.setPen(QColor(120, 120, 120))
            painter.drawText(QRect(0, title.bottom() + 4, self.width(), self.height() - title.bottom() - 4),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
                             "Rows: true class; columns: predicted class. It fills in with the predictions.")
            return
        k = self._counts.shape[0]
        if grid.width() < k or grid.height() < k:
            # Under a pixel a cell: an area-averaged copy, so that a thin diagonal still shows as a line
            # (a plain scaled draw picks one cell in five and drops the rest). Made again only on resize.
            size = QSize(max(int(grid.width()), 1), max(int(grid.height()), 1))
            if self._scaled is None or self._scaled.size() != size:
                self._scaled = self._image.scaled(size, Qt.AspectRatioMode.IgnoreAspectRatio,
                                                  Qt.TransformationMode.SmoothTransformation)
            painter.drawImage(grid.topLeft(), self._scaled)
        else:
            painter.drawImage(grid, self._image)
        fm = painter.fontMetrics()
        # The corner above the row names says which axis is which.
        corner = QRect(0, header.top(), int(grid.left()) - 4, header.height())
        painter.setPen(QColor(90, 90, 90))
        painter.drawText(corner, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                         fm.elidedText(CORNER, Qt.TextElideMode.ElideRight, corner.width()))
        cw, ch = grid.width() / k, grid.height() / k
        if min(cw, ch) >= 6:
            painter.setPen(QPen(QColor(255, 255, 255), 1))
            for i in range(1, k):
                x, y = int(grid.left() + i * cw), int(grid.top() + i * ch)
                painter.drawLine(x, int(grid.top()), x, int(grid.bottom()))
                painter.drawLine(int(grid.left()), y, int(grid.right()), y)
        if ch < fm.height() - 2 or cw < 8:
            return  # too small for names and numbers: hovering tells them
        painter.setPen(text_color)
        for i, name in enumerate(self._names):
            col = QRect(int(grid.left() + i * cw), header.top(), int(cw), header.height())
            painter.drawText(col, Qt.AlignmentFlag.AlignCenter, fm.elidedText(name, Qt.TextElideMode.ElideRight, col.width()))
            row = QRect(0, int(grid.top() + i * ch), int(grid.left()) - 4, int(ch))
            painter.drawText(row, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                             fm.elidedText(name, Qt.TextElideMode.ElideRight, row.width()))
        if min(cw, ch) >= 30:
            painter.setFont(self.font())
            fm = painter.fontMetrics()
        zeros = k <= 5  # a field of zeros hides the few mistakes of a bigger matrix
        for t in range(k):
            for p in range(k):
                count = int(self._counts[t, p])
                text = f"{count:,}"
                if (count == 0 and not zeros) or fm.horizontalAdvance(text) > cw - 2:
                    continue
                r, g, b = (int(v) for v in self._rgb[t, p])
                dark = 0.299 * r + 0.587 * g + 0.114 * b < 150
                painter.setPen(QColor(255, 255, 255) if dark else QColor(170, 170, 170) if count == 0 else QColor(0, 0, 0))
                painter.drawText(QRectF(grid.left() + p * cw, grid.top() + t * ch, cw, ch), Qt.AlignmentFlag.AlignCenter, text)
