"""What the training plots share: white plots, tidy axes kept as pixmaps, cached epoch curves."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6.QtWidgets import QGraphicsItem

from app.plots.traces import Trace

# White plots read better in a classroom projector and in screenshots than pyqtgraph's black.
pg.setConfigOptions(background="w", foreground="#202020", antialias=True)


def tidy(item: pg.PlotItem) -> None:
    """Room on the right so edge points are not clipped, plain numbers on the axes (no "x0.001"), and
    axes (with their grid lines) kept as pixmaps: drawn again only when their range or size changes,
    not with every new batch (a grid cost ~8 ms of every repaint on a slow machine, cached under 1 ms)."""
    item.layout.setContentsMargins(4, 4, 14, 4)
    for name in ("left", "bottom"):
        item.getAxis(name).enableAutoSIPrefix(False)
    for name in ("left", "bottom", "right", "top"):
        item.getAxis(name).setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)


def cached(*traces: Trace) -> None:
    """Curves that change a few times a second, not at every update (the epoch curves): kept as pixmaps, so
    the repaint the batch curve asks for at every update copies them instead of drawing them again."""
    for trace in traces:
        trace.cache()


def draw_epoch_pair(train_trace: Trace, test_trace: Trace, xs: np.ndarray, train: np.ndarray, test: np.ndarray) -> None:
    """A run's per-epoch train and test curves (the test one emptied when the run has no test split)."""
    train_trace.feed(train)
    train_trace.draw(train, lambda idx: xs[idx], force=True)
    if len(test) and np.isnan(test).all():
        test_trace.clear()
    else:
        test_trace.feed(test)
        test_trace.draw(test, lambda idx: xs[idx], force=True)
