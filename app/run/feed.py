"""The GUI's feed of a run: the callback that buffers the trainer's events in the worker thread (no Qt), and the drain
that takes them in the GUI thread. Shared by the thread run (app.run.controller) and the torchrun run (app.run.process_run)."""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np

from app.state.model_outputs import DataPoints, PredictionTable, RegionSnapshot, data_points, decision_regions, predict_split
from core.events import BatchEnd, Callback, EpochEnd, TrainResult, TrainStart

if TYPE_CHECKING:  # torch is imported where used: the window is built (and shown) before torch loads
    from core.training import Trainer

__all__ = ["Drained", "GuiFeed", "drain"]

# How often the GUI takes what the worker buffered: 20 times a second keeps the plot live
# without the GUI thread competing with training for the interpreter.
DRAIN_INTERVAL_MS = 50
# The GUI thread and the training thread share one interpreter lock, and training waits while the
# GUI takes its turn (see GUI_TURN_TIMEOUT_S), so the time the GUI spends updating and repainting is
# time training loses. A turn draws the batch loss (and, a few times a second, what changes less) and
# costs a few milliseconds; the next drain comes when the GUI's turns have used GUI_SHARE of the wall
# time, but never less often than MAX_DRAIN_INTERVAL_MS: a curve that moves 10 times a second looks
# live, one that moves once a second does not (when turns cost more than GUI_SHARE allows at that
# rate, as in a big window on a slow machine, liveness wins and training gives up a little more).
GUI_SHARE = 0.04
MAX_DRAIN_INTERVAL_MS = 95  # a little over 10 updates a second
# While the GUI thread updates and repaints, the training thread waits between two batches, for at
# most this long a turn: the two share one interpreter lock, and taking turns every 5 ms doubled the
# time of every GUI update (a whole-window repaint took 50-150 ms on a slow machine instead of
# 25-70 ms). Past this, training goes on beside the GUI: a longer wait cost more throughput (0.84x
# of headless against 0.92-0.94x, on a noisy 2-core machine) for little less latency.
GUI_TURN_TIMEOUT_S = 0.02
# The window repaints for a new run (cleared plots, new axes) before the worker starts building the
# trainer; that first repaint costs more than a live update (20-40 ms on a slow machine, more the
# first time in a process), and a worker that stopped waiting at GUI_TURN_TIMEOUT_S doubled it.
START_TURN_TIMEOUT_S = 0.25
# Decision regions are a grid of predictions made in the worker, and a repaint of the data plot: once
# a second shows them change.
REGION_INTERVAL_S = 1.0


@dataclass
class Drained:
    """What one drain of the buffer brought: batch losses as arrays, everything else as events in order."""

    start: TrainStart | None
    steps: np.ndarray  # int64, 1-based over the model's life
    losses: np.ndarray  # float64
    last_batch: BatchEnd | None
    samples: int  # samples in this drain's batches
    epochs: list[EpochEnd]
    regions: RegionSnapshot | None
    result: TrainResult | None
    points: DataPoints | None = None  # the run's data, sampled for the scatter (sent once, at its start)
    predictions: PredictionTable | None = None  # the model's predictions at the run's end
    # Per batch, beside steps and losses: its epoch, its place in the epoch, its size and its time.
    epoch_of: np.ndarray | None = None  # int32
    batch_of: np.ndarray | None = None  # int32, 1-based
    sizes: np.ndarray | None = None  # int32
    elapsed: np.ndarray | None = None  # float64, seconds since the fit started
    others: list = field(default_factory=list)  # anything else the worker sent, in order (insight, ...)


class GuiFeed(Callback):
    """Buffers the trainer's events in a deque (thread-safe appends); the GUI drains it on a timer.

    It never touches Qt: it runs in the worker thread, inside the training loop.
    """

    def __init__(self, regions: bool = False, gui_idle: threading.Event | None = None):
        self.events: collections.deque = collections.deque()
        self.trainer: Trainer | None = None
        self._regions = regions
        self._last_region = 0.0
        self._bounds = None  # the data's 2-D bounds, taken once a run
        # Cleared by the GUI thread while it updates and repaints; the loop waits for it between batches.
        self.gui_idle = gui_idle if gui_idle is not None else threading.Event()
        if gui_idle is None:
            self.gui_idle.set()

    def wait_for_gui(self, timeout: float | None = None) -> None:
        # A GUI that has not ended its turn in time (GUI_TURN_TIMEOUT_S unless told) is busy elsewhere
        # (or its event loop is not running): go on, and stop waiting for this turn.
        if timeout is None:
            timeout = GUI_TURN_TIMEOUT_S
        if not self.gui_idle.is_set() and not self.gui_idle.wait(timeout):
            self.gui_idle.set()

    def on_train_start(self, info: TrainStart) -> None:
        self.events.append(info)
        if self.trainer is not None:
            # Sampled here, in the worker: a split of millions of rows never reaches the GUI thread.
            points = data_points(self.trainer.data, self.trainer.cfg.dataset)
            self._bounds = points.bounds
            self.events.append(points)
        if self._regions:
            self._push_regions(force=True)

    def on_batch_end(self, event: BatchEnd) -> None:
        self.events.append(event)
        if not self.gui_idle.is_set():  # the check inline: this runs once per batch
            self.wait_for_gui()

    def on_epoch_end(self, event: EpochEnd) -> None:
        self.events.append(event)
        if self._regions:
            self._push_regions()

    def on_train_end(self, result: TrainResult) -> None:
        if self._regions:
            self._push_regions(force=True)
        if self.trainer is not None and self._regions:
            self.events.append(predict_split(self.trainer))
        self.events.append(result)

    def _push_regions(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.trainer is None or (not force and now - self._last_region < REGION_INTERVAL_S):
            return
        self._last_region = now
        snap = decision_regions(self.trainer, bounds=self._bounds)
        if snap is not None:
            self.events.append(snap)


def drain(events: collections.deque) -> Drained:
    """Take everything buffered so far (only what was there when called, so a busy worker cannot starve the GUI)."""
    n = len(events)
    start = last_batch = result = regions = points = predictions = None
    batches: list[BatchEnd] = []
    epochs: list[EpochEnd] = []
    others: list = []
    pop = events.popleft
    for _ in range(n):
        ev = pop()
        if type(ev) is BatchEnd:
            batches.append(ev)
        elif type(ev) is EpochEnd:
            epochs.append(ev)
        elif isinstance(ev, TrainStart):
            start = ev
        elif isinstance(ev, RegionSnapshot):
            regions = ev
        elif isinstance(ev, DataPoints):
            points = ev
        elif isinstance(ev, PredictionTable):
            predictions = ev
        elif isinstance(ev, TrainResult):
            result = ev
        else:
            others.append(ev)
    last_batch = batches[-1] if batches else None
    # Columns of the batch events, one attribute at a time (map with attrgetter runs in C).
    epoch_of, batch_of, steps, losses, sizes, elapsed = (
        list(map(attrgetter(name), batches)) for name in ("epoch", "batch", "step", "loss", "batch_size", "elapsed"))
    sizes_arr = np.asarray(sizes, dtype=np.int32)
    return Drained(
        start=start,
        steps=np.asarray(steps, dtype=np.int64),
        losses=np.asarray(losses, dtype=np.float64),
        last_batch=last_batch,
        samples=int(sizes_arr.sum()),
        epochs=epochs,
        regions=regions,
        result=result,
        points=points,
        predictions=predictions,
        epoch_of=np.asarray(epoch_of, dtype=np.int32),
        batch_of=np.asarray(batch_of, dtype=np.int32),
        sizes=sizes_arr,
        elapsed=np.asarray(elapsed, dtype=np.float64),
        others=others,
    )
