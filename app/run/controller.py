"""Runs a core Trainer on a QThread and hands its events to the GUI thread 10 to 20 times a second."""

from __future__ import annotations

import atexit
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import shiboken6
from PySide6.QtCore import QCoreApplication, QObject, Qt, QThread, QTimer, Signal, Slot

from app.run import gc_timer
from app.run.feed import (
    DRAIN_INTERVAL_MS,
    GUI_SHARE,
    MAX_DRAIN_INTERVAL_MS,
    START_TURN_TIMEOUT_S,
    Drained,
    GuiFeed,
    drain,
)
from app.run.process_run import ProcessRun
from app.run.warmup import prepare_torch
from app.state.model_outputs import RegionSnapshot, decision_regions
from core.config import TrainConfig
from core.errors import FIXABLE_ERRORS, Cancelled
from core.events import Callback, TrainResult
from core.insight_recorder import InsightRecorder

__all__ = ["Drained", "GuiFeed", "RegionSnapshot", "TrainingController", "decision_regions", "drain", "prepare_torch"]

if TYPE_CHECKING:  # torch is imported where used: the window is built (and shown) before torch loads
    from core.training import Trainer



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
                if isinstance(cb, GuiFeed):
                    # The window's own start-of-run repaint first, then the heavy set-up.
                    cb.wait_for_gui(START_TURN_TIMEOUT_S)
            prepare_torch()
            trainer = self._make_trainer(self._callbacks)
            out.trainer = trainer
            for cb in self._callbacks:
                if isinstance(cb, (GuiFeed, InsightRecorder)):
                    cb.trainer = trainer
            out.result = trainer.fit(self._stop, self._pause)
        except Cancelled:  # stopped (or the window closed) while the data was being made
            pass
        except FIXABLE_ERRORS as exc:  # a person can fix it: its message as it is, without a type name
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
    stateChanged = Signal()  # a run started or ended, or was paused or resumed: is_running()/is_paused() changed

    def __init__(self, parent: QObject | None = None, extra_callbacks: Sequence[Callback] = ()):
        super().__init__(parent)
        self.extra_callbacks: list[Callback] = list(extra_callbacks)
        self.stop_event = threading.Event()
        self.pause_event = threading.Event()
        self._thread: QThread | None = None
        self._worker: TrainingWorker | None = None
        self._callback: GuiFeed | None = None
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

    def is_paused(self) -> bool:
        return self._processes.is_paused() if self._processes is not None else self.pause_event.is_set()

    def start_processes(self, cfg: TrainConfig, processes: int) -> None:
        """Train `cfg` as torchrun with `processes` processes (DDP) in a child process group
        (app.run.process_run); its events arrive through this controller's signals like a thread's. After the
        run, `model_path` is the model rank 0 saved (None when it was stopped or failed)."""
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
        self.stateChanged.emit()

    def _processes_finished(self, result: TrainResult | None) -> None:
        run, self._processes = self._processes, None
        self.result, self.model_path = result, run.model_path if run is not None else None
        self.stateChanged.emit()
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
        self._callback = GuiFeed(regions=regions, gui_idle=self._gui_idle)
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
        gc_timer.hold()  # no collection on the training thread (see app.run.gc_guard)
        self._gui_cpu, self._gui_cost = time.thread_time(), 0.0
        self._timer.setInterval(DRAIN_INTERVAL_MS)
        self._timer.start()
        thread.start()
        QTimer.singleShot(0, self._end_gui_turn)
        self.stateChanged.emit()

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
        elif paused:
            self.pause_event.set()
        else:
            self.pause_event.clear()
        self.stateChanged.emit()

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
        gc_timer.release()
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
        self.stateChanged.emit()
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
