"""Runs a core Trainer on a QThread and hands its events to the GUI thread 10 to 20 times a second."""

from __future__ import annotations

import atexit
import collections
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TYPE_CHECKING

import numpy as np
import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, QTimer, Signal, Slot

from app.run import gc_guard
from app.state.model_outputs import DataPoints, PredictionTable, RegionSnapshot, data_points, decision_regions, predict_split
from core.config import TrainConfig
from core.errors import Cancelled
from core.events import BatchEnd, Callback, EpochEnd, TrainResult, TrainStart
from core.insight import InsightRecorder

__all__ = ["RegionSnapshot", "decision_regions", "drain", "QtCallback", "TrainingController"]

if TYPE_CHECKING:  # torch is imported where used: the window is built (and shown) before torch loads
    from core.training import Trainer

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

# Errors a person can fix from the settings; their message is shown as it is, without a type name.
_USER_ERRORS = (ValueError, OSError)

# Every run still going, with what it needs to be stopped: a QThread (and its worker) that Python lets go
# of while it runs would be destroyed running and abort the process, so they are held here until it ends.
_LIVE_RUNS: dict[int, tuple[QThread, QObject, threading.Event]] = {}


def stop_all_runs(timeout_ms: int = 5000) -> bool:
    """Stop and wait for every run still going (at exit, or for a window dropped without being closed),
    `timeout_ms` for all of them together. True when none is left running."""
    deadline = time.monotonic() + timeout_ms / 1000
    for _thread, _worker, stop in _LIVE_RUNS.values():
        stop.set()
    left = {}
    for key, (thread, worker, stop) in list(_LIVE_RUNS.items()):
        try:
            thread.quit()
            if not thread.wait(max(0, int(1000 * (deadline - time.monotonic())))):
                left[key] = (thread, worker, stop)
        except RuntimeError:  # already deleted by Qt: it had finished
            pass
    _LIVE_RUNS.clear()
    _LIVE_RUNS.update(left)
    return not left


atexit.register(stop_all_runs)


@dataclass
class RunOutcome:
    """What the worker leaves behind, in a plain object: the worker QObject is deleted when its thread ends."""

    trainer: Trainer | None = None
    result: TrainResult | None = None
    error: str | None = None
    done: threading.Event = field(default_factory=threading.Event)  # set last, by the worker thread


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


class QtCallback(Callback):
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


_prepared = False
_prepare_lock = threading.Lock()


def prepare_torch() -> None:
    """Pay torch's one-time lazy import off the GUI thread, without garbage-collection pauses.

    The first optimizer step in a process imports torch._dynamo (1 to 1.5 s; torch's
    `_use_grad_for_differentiable` does it unconditionally). The collections that import triggered
    froze the GUI thread for up to 160 ms (a full collection walks every object torch, Qt and
    pyqtgraph made), so it runs with the collector off, and then everything alive is frozen into
    the permanent generation so later full collections stay short. A few of torch's module bodies
    still hold the interpreter lock for 50 to 135 ms each; the app runs this right after start-up
    (see app.__main__) so that a run started later does not meet them.
    """
    global _prepared
    with _prepare_lock:
        if _prepared:
            return
        with gc_guard.suspended():
            import torch._dynamo  # noqa: F401
        _prepared = True


class TrainingWorker(QObject):
    """Builds the trainer (it loads the data, which can fail) and runs `fit` in the worker thread.

    From the worker thread it touches no Qt at all: it leaves its outcome in a plain RunOutcome and
    sets `outcome.done`. Its `finished()` signal is emitted by `report()`, which the controller calls in
    the GUI thread once `done` is set (the controller reports a failure itself).

    Why not emit from the worker thread: a Qt call made from Python holds the GIL while it takes Qt's
    internal locks, and the GUI thread can hold one of those locks while it waits for the GIL (for
    example while deleting a widget whose signals Python connected). Both threads then wait forever.
    gdb showed exactly that, once in a few dozen test-suite runs, for a worker that emitted
    `finished` and was deleted in its own thread (deleteLater), and again for one that moved itself
    back to the GUI thread with moveToThread.
    """

    finished = Signal()

    def __init__(self, make_trainer: Callable[[Sequence[Callback]], Trainer], callbacks: Sequence[Callback],
                 stop: threading.Event, pause: threading.Event, outcome: RunOutcome):
        super().__init__()  # no parent: it is moved to the worker thread
        self._make_trainer = make_trainer
        self._callbacks = list(callbacks)
        self._stop = stop
        self._pause = pause
        self.outcome = outcome

    @Slot()
    def run(self) -> None:
        out = self.outcome
        try:
            for cb in self._callbacks:
                if isinstance(cb, QtCallback):
                    # The window's own start-of-run repaint first, then the heavy set-up.
                    cb.wait_for_gui(START_TURN_TIMEOUT_S)
            prepare_torch()
            trainer = self._make_trainer(self._callbacks)
            out.trainer = trainer
            for cb in self._callbacks:
                if isinstance(cb, (QtCallback, InsightRecorder)):
                    cb.trainer = trainer
            out.result = trainer.fit(self._stop, self._pause)
        except Cancelled:  # stopped (or the window closed) while the data was being made
            pass
        except _USER_ERRORS as exc:
            out.error = str(exc) or type(exc).__name__
        except Exception as exc:  # noqa: BLE001 - any failure must reach the window, never kill the thread silently
            traceback.print_exc()
            out.error = f"{type(exc).__name__}: {exc}"
        finally:
            out.done.set()

    def report(self) -> None:
        """GUI thread, after `outcome.done`: finished()."""
        self.finished.emit()


class TrainingController(QObject):
    """Starts one training run at a time on its own QThread and feeds the GUI from a timer.

    The timer (GUI thread, every DRAIN_INTERVAL_MS) drains the events the worker buffered and, once
    the worker says it is done, has it report: its finished() quits the thread, the controller waits
    for it (a moment), drains the rest and emits its own signals, then deletes worker and thread in
    the GUI thread (with the GIL held; see TrainingWorker for why not deleteLater in the worker thread).

    Signals (all in the GUI thread): `progress(Drained)` per drain that brought something,
    `failed(str)` when the run raised, `runFinished(object)` and then `finished(object)` once the
    thread has ended, with the TrainResult (None after a failure). Stop and pause are
    threading.Events the loop checks between batches.
    """

    progress = Signal(object)
    failed = Signal(str)
    runFinished = Signal(object)
    finished = Signal(object)  # right after runFinished, once the window has taken the result
    drained = Signal()  # every timer tick, even an empty one (tests wait on it instead of sleeping)

    def __init__(self, parent: QObject | None = None, extra_callbacks: Sequence[Callback] = ()):
        super().__init__(parent)
        self.extra_callbacks: list[Callback] = list(extra_callbacks)
        self.stop_event = threading.Event()
        self.pause_event = threading.Event()
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._callback: QtCallback | None = None
        self._outcome = RunOutcome()
        self.trainer: Trainer | None = None  # the last run's trainer (None if it could not be built)
        self.result: TrainResult | None = None
        self._processes = None  # an app.run.process_run.ProcessRun while a run on several processes goes
        self.processes = 1  # processes of the last run
        self.model_path: str | None = None  # the file a run on several processes saved
        self._timer = QTimer(self)
        # Precise: a coarse timer may fire up to 5% late, and 10 updates a second became 9.9.
        self._timer.setTimerType(Qt.TimerType.PreciseTimer)
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.timeout.connect(self._drain)
        self._gui_cpu = 0.0  # the GUI thread's CPU time at the last drain (time.thread_time)
        self._gui_cost = 0.0  # smoothed GUI CPU seconds per drain cycle (update + repaint)
        self._gui_idle = threading.Event()  # cleared while the GUI takes its turn (see GUI_TURN_TIMEOUT_S)
        self._gui_idle.set()

    # --- public -----------------------------------------------------------------------------

    def is_running(self) -> bool:
        return self._thread is not None or self._processes is not None

    def current_trainer(self) -> Trainer | None:
        """The running trainer once the worker has built it (read-only use from the GUI: its data)."""
        return self._outcome.trainer

    def is_paused(self) -> bool:
        return self._processes.is_paused() if self._processes is not None else self.pause_event.is_set()

    def start_processes(self, cfg: TrainConfig, processes: int) -> None:
        """Train `cfg` as torchrun with `processes` processes (DDP) in a child process group
        (app.run.process_run); its events arrive through this controller's signals like a thread's. After the
        run, `model_path` is the model rank 0 saved (None when it was stopped or failed)."""
        from app.run.process_run import ProcessRun  # it imports this module

        if self.is_running():
            raise RuntimeError("a training run is already going")
        run = ProcessRun(cfg, processes, parent=self)
        run.progress.connect(self.progress)
        run.failed.connect(self.failed)
        run.drained.connect(self.drained)
        run.runFinished.connect(self._processes_finished)
        self.trainer = self.result = self.model_path = None
        self.processes = processes
        self._processes = run
        try:
            run.start()
        except BaseException:
            self._processes = None
            raise

    def _processes_finished(self, result: TrainResult | None) -> None:
        run, self._processes = self._processes, None
        self.result, self.model_path = result, run.model_path if run is not None else None
        self.runFinished.emit(result)
        self.finished.emit(result)

    def start(self, cfg: TrainConfig, make_trainer: Callable[[Sequence[Callback]], Trainer] | None = None,
              regions: bool = False) -> None:
        """Train `cfg` on a new thread: `Trainer(cfg, callbacks, threads=1).fit(stop, pause)`.

        `make_trainer(callbacks)` replaces the plain Trainer (to continue a model, or start from
        weights); it runs in the worker thread too, since building a trainer loads the data.
        `regions` adds decision-region snapshots for 2-D data.
        """
        if self.is_running():
            raise RuntimeError("a training run is already going")
        self.processes, self.model_path = 1, None
        if make_trainer is None:
            def make_trainer(callbacks: Sequence[Callback]) -> Trainer:
                from core import training  # in the worker thread; looked up at call time (tests swap it)

                return training.Trainer(cfg, callbacks, threads=1, cancel=self.stop_event)
        self.stop_event = threading.Event()
        self.pause_event = threading.Event()
        self.trainer = None
        self.result = None
        self._outcome = RunOutcome()
        self._gui_idle.clear()  # the window repaints for the new run before the worker starts its set-up
        self._callback = QtCallback(regions=regions, gui_idle=self._gui_idle)
        callbacks = [self._callback, *self.extra_callbacks]
        if regions:
            # Inside the layers: stats, unit pictures and a collapse diagnosis, into the same buffer. First,
            # so its final diagnosis is buffered before the run's result.
            callbacks.insert(0, InsightRecorder(self._callback.events.append))
        worker = TrainingWorker(make_trainer, callbacks, self.stop_event, self.pause_event, self._outcome)
        thread = QThread()
        thread.setObjectName("TrainingThread")
        worker.moveToThread(thread)
        thread.started.connect(worker.run)
        # report() emits finished() in the GUI thread, where the QThread object lives: a direct call.
        worker.finished.connect(thread.quit)
        self._thread, self._worker = thread, worker
        _LIVE_RUNS[id(self)] = (thread, worker, self.stop_event)
        gc_guard.hold()  # no collection on the training thread (see app.run.gc_guard)
        self._gui_cpu, self._gui_cost = time.thread_time(), 0.0
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.start()
        thread.start()
        QTimer.singleShot(0, self._end_gui_turn)

    def _end_gui_turn(self) -> None:
        """Paint what is waiting to be painted, now, then let the training thread go on."""
        try:
            # All posted events, not only UpdateRequest: a graphics scene first runs its queued
            # update, which then posts the repaint (dispatched in the same call).
            QCoreApplication.sendPostedEvents()
        finally:
            self._gui_idle.set()

    def stop(self) -> None:
        self.stop_event.set()
        self._gui_idle.set()
        if self._processes is not None:
            self._processes.stop()

    def set_paused(self, paused: bool) -> None:
        if self._processes is not None:
            self._processes.set_paused(paused)
            return
        if paused:
            self.pause_event.set()
        else:
            self.pause_event.clear()

    def shutdown(self, timeout_ms: int = 5000) -> bool:
        """Stop the run and wait for its thread (window closing); True when no thread is left."""
        if self._processes is not None:
            return self._processes.shutdown(timeout_ms)
        thread = self._thread
        if thread is None:
            return True
        self.stop_event.set()
        self.pause_event.clear()
        self._gui_idle.set()
        thread.quit()  # exec() returns at once once run() has: the quit is remembered
        if not thread.wait(timeout_ms):
            return False
        self._finish()
        return True

    # --- private ----------------------------------------------------------------------------

    def _finish(self) -> None:
        """GUI thread, once the worker is done: end the thread, delete both objects, report."""
        thread, worker, out = self._thread, self._worker, self._outcome
        self._thread = self._worker = None
        self._gui_idle.set()
        _LIVE_RUNS.pop(id(self), None)
        self._timer.stop()
        gc_guard.release()
        worker.report()  # finished() -> thread.quit()
        thread.quit()
        thread.wait()  # releases the GIL; the thread only has to leave its event loop
        for obj in (worker, thread):
            # Deleted here, in the GUI thread with the GIL held: never by deleteLater in a thread
            # that runs without the GIL (see TrainingWorker).
            if shiboken6.isValid(obj):
                shiboken6.delete(obj)
        self.trainer, self.result = out.trainer, out.result
        cb = self._callback
        if cb is not None and cb.events:
            self.progress.emit(drain(cb.events))
        if out.error is not None:
            self.failed.emit(out.error)
        self.runFinished.emit(self.result)
        self.finished.emit(self.result)

    @Slot()
    def _drain(self) -> None:
        cb = self._callback
        turn = 0.0
        batches = 0
        if cb is not None and cb.events:
            t0 = time.perf_counter()
            self._gui_idle.clear()  # the training thread waits at its next batch end
            try:
                drained = drain(cb.events)
                batches = len(drained.losses)
                self.progress.emit(drained)
            finally:
                self._end_gui_turn()
            turn = time.perf_counter() - t0
        self.drained.emit()
        if self._thread is not None and self._outcome.done.is_set():
            self._finish()
        elif self._thread is not None and batches == 0 and self._gui_cost == 0.0:
            # No batch has come yet: the click's own turn and the start's repaint are not what a live
            # update costs, and pacing by them held the first update back by 750 ms.
            self._gui_cpu = time.thread_time()
        elif self._thread is not None:
            self._pace(turn)

    def _pace(self, turn: float = 0.0) -> None:
        """Set the next drain so what the GUI costs the training thread stays within GUI_SHARE of the
        wall time: the GUI's turn (`turn` seconds, update and repaint, while training waits) or, if
        more, its CPU time since the last drain."""
        now = time.thread_time()
        cost, self._gui_cpu = max(turn, now - self._gui_cpu), now
        self._gui_cost = cost if self._gui_cost == 0.0 else 0.7 * self._gui_cost + 0.3 * cost
        period = min(MAX_DRAIN_INTERVAL_MS, max(DRAIN_INTERVAL_MS, int(1000 * self._gui_cost / GUI_SHARE)))
        # setInterval starts the wait again from now, after this turn: the turn is taken off, so that
        # drains start `period` apart (waiting the whole period after each turn gave 9.9 updates a second).
        self._timer.setInterval(max(1, period - int(1000 * turn)))
