"""Curve items fed from growing arrays, drawn from a bounded number of points whatever the length."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem

from app.state.curves import PeakLevels
from app.state.runs import RunRecord

# Beyond this many epochs the per-epoch markers only hide the line.
MAX_EPOCH_SYMBOLS = 200
# The loss curve is drawn from at most this many points: the batch losses in view themselves up to
# here, beyond it each block's min and max (what peak downsampling shows: about one pair per pixel
# column of a wide plot), so that a live update costs the same at a million batches as at a thousand.
DRAWN_POINTS = 2048



def _drawn_as_given(curve: pg.PlotDataItem) -> None:
    """No downsampling or clipping by pyqtgraph: the curve is drawn from the points it is given (few:
    one per epoch, or chosen for the view), and is not rebuilt, markers and all, whenever the view's
    range changes."""
    curve.setDownsampling(ds=1, auto=False)
    curve.setClipToView(False)


class Trace:
    """One curve item fed from a growing array: drawn from at most DRAWN_POINTS points of what is in view
    (the values themselves, or each block's min and max), so an update costs the same at a hundred or a
    million values. `x_of(indices)` gives the x of the values drawn."""

    def __init__(self, plot: pg.PlotItem, pen, name: str | None = None, symbol: str | None = None,
                 symbol_brush=None, z: float = 0.0, dtype=np.float64):
        self.item = pg.PlotDataItem(pen=pen, name=name, antialias=False)
        _drawn_as_given(self.item)
        self.item.setZValue(z)
        plot.addItem(self.item)
        self.plot = plot
        self.symbol, self.symbol_brush = symbol, symbol_brush
        self.levels = PeakLevels(DRAWN_POINTS, dtype)
        self._levelled = 0  # values the levels hold
        self._finite = True
        self._drawn: tuple | None = None

    def cache(self) -> None:
        """Keep the drawn curve (and its markers) as a pixmap: for a curve that changes less often than the
        plot repaints. On the items that paint: a PlotDataItem draws nothing itself."""
        for part in (self.item.curve, self.item.scatter):
            part.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def reset(self) -> None:
        self.levels.clear()
        self._levelled = 0
        self._finite = True
        self._drawn = None

    def feed(self, values: np.ndarray) -> None:
        """`values` grew (or were replaced: call reset first) since the last feed."""
        new = values[self._levelled:]
        if self._finite and len(new) and not np.isfinite(new).all():
            self._finite = False
        self.levels.update(values, self._levelled)
        self._levelled = len(values)

    def draw(self, values: np.ndarray, x_of, span: tuple[int, int] | None = None, force: bool = False) -> None:
        n = len(values)
        i0, i1 = span if span is not None else (0, n)
        key = (i0, i1, n)
        if not force and key == self._drawn:
            return
        self._drawn = key
        if n == 0:
            self.item.setData([], [])
            return
        idx, y = self.levels.select(values, i0, i1)
        x = x_of(idx)
        few = len(x) <= MAX_EPOCH_SYMBOLS
        opts = {}
        if self.symbol is not None:
            opts = dict(symbol=self.symbol if few else None, symbolSize=6, symbolBrush=self.symbol_brush, symbolPen=None)
        self.item.setData(x, y, connect="all" if self._finite else "finite", skipFiniteCheck=self._finite,
                          antialias=few, **opts)

    def clear(self) -> None:
        self.reset()
        self.item.setData([], [])

    def remove(self) -> None:
        self.plot.removeItem(self.item)


def _span(x: np.ndarray | None, n: int, first: int, view: tuple[float, float] | None) -> tuple[int, int] | None:
    """Indices of the values inside the x range shown (None: all): a step axis by arithmetic, others by search."""
    if view is None or n <= DRAWN_POINTS:
        return None
    x0, x1 = view
    if x is None:  # x = first + index
        i0 = int(np.clip(np.floor(x0) - first - 1, 0, n))
        i1 = int(np.clip(np.ceil(x1) - first + 2, i0, n))
    else:
        i0 = max(0, int(np.searchsorted(x, x0)) - 1)
        i1 = max(i0, min(n, int(np.searchsorted(x, x1, side="right")) + 1))
    return i0, i1


class RunTraces:
    """The batch-loss curves of one run on the loss plot: raw (faint while smoothing is on) and smoothed."""

    def __init__(self, plot: pg.PlotItem, run: RunRecord, live: tuple[Trace, Trace] | None = None):
        self.run = run
        if live is not None:
            self.raw, self.smooth = live
        else:
            self.raw = Trace(plot, None, z=-2)
            self.smooth = Trace(plot, None, z=-1, dtype=np.float32)
            # A finished run does not change: drawn once into a pixmap, not again with every live update.
            for t in (self.raw, self.smooth):
                t.cache()
        self.live = live is not None

    def style(self, smoothing: float) -> None:
        c = self.run.color
        self.raw.item.setPen(pg.mkPen((*c, 60 if smoothing else 230), width=1))
        self.smooth.item.setPen(pg.mkPen((*c, 255), width=2))
        self.smooth.item.setVisible(bool(smoothing))

    def reset(self) -> None:
        self.raw.reset()
        self.smooth.reset()

    def draw(self, mode: str, view: tuple[float, float] | None, force: bool = False) -> None:
        run = self.run
        n = len(run)
        xs = None if mode == "step" else run.batch_x(mode)
        first = run.first_step

        def x_of(idx):
            return first + idx.astype(np.float64) if xs is None else xs[idx]

        span = _span(xs, n, first, view)
        losses = run.losses.view()
        self.raw.feed(losses)
        self.raw.draw(losses, x_of, span, force)
        if run.smoothing:
            smoothed = run.smoothed.view()
            self.smooth.feed(smoothed)
            self.smooth.draw(smoothed, x_of, span, force)

    def remove(self) -> None:
        if not self.live:
            self.raw.remove()
            self.smooth.remove()


