"""What the GUI benchmark measures inside one process: the gaps between a 10 ms timer's ticks (GapProbe) and each
GUI turn with its parts (TurnRecorder, which wraps the window's parts and puts everything back)."""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable

from core.events import Callback

TICK_MS = 10


class GapProbe:
    """A 10 ms precise timer; the time between two of its ticks is how long the GUI thread could not react
    (10 ms when it could at once). `gaps_ms[i]` ended at `ends[i]` (perf_counter seconds); `cpu_ms[i]` is the
    GUI thread's CPU time in it (a long gap with little of it is the GUI thread waiting: for the interpreter
    lock another thread held, or for the machine)."""

    def __init__(self, interval_ms: int = TICK_MS):
        from PySide6.QtCore import Qt, QTimer

        self.gaps_ms: list[float] = []
        self.ends: list[float] = []
        self.cpu_ms: list[float] = []
        self._last: float | None = None
        self._cpu = 0.0
        self.timer = QTimer()
        self.timer.setTimerType(Qt.TimerType.PreciseTimer)
        self.timer.setInterval(interval_ms)
        self.timer.timeout.connect(self._tick)

    def start(self) -> None:
        self._last, self._cpu = time.perf_counter(), time.thread_time()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _tick(self) -> None:
        now, cpu = time.perf_counter(), time.thread_time()
        self.gaps_ms.append((now - self._last) * 1000)
        self.cpu_ms.append((cpu - self._cpu) * 1000)
        self.ends.append(now)
        self._last, self._cpu = now, cpu


class TurnRecorder:
    """Times one window's GUI turns and their parts, by wrapping the methods a turn calls on that window
    and its controller (instance attributes; `remove()` puts everything back).

    `turns`: one dict per turn that drained something: t (perf_counter at its start), ms (the whole turn),
    cpu (the GUI thread's CPU ms in it) and parts (ms by name: drain, record, run start, insight events,
    points, status numbers, loss, the slower view drawn (status, epochs, accuracy, insight, regions) and
    repaint; `other` is the rest). `spans`: what held the GUI thread outside a turn (the click, the run's
    start repaint, with `notify` any Qt event) and garbage collections in any thread, as (label, t, ms).
    `updates`: when a turn changed the live batch curve's data. `train_start`, `first_batch`: when the
    worker began the run's first epoch and ended its first batch. Only while `start()`ed."""

    # (object path from the window, method, part name); each live view's `draw` is named by the view.
    PARTS = (
        ("run_views", "record_progress", "record"),
        ("insight", "begin", "run start"),
        ("loss_plot", "begin_run", "run start"),
        ("accuracy_plot", "begin_run", "run start"),
        ("run_status", "started", "run start"),
        ("insight", "feed", "insight events"),
        ("data_plot", "set_points", "points"),
        ("run_status", "batches", "status numbers"),
        ("loss_plot", "refresh", "loss"),
        ("controller", "_end_gui_turn", "repaint"),
        ("", "start_training", "click on Train"),
    )

    def __init__(self, window):
        self.window = window
        self.turns: list[dict] = []
        self.spans: list[tuple[str, float, float]] = []
        self.updates: list[float] = []
        self.recording = False
        self._turn: dict | None = None
        self._depth = 0
        self._undo: list[Callable[[], None]] = []
        self._gc_start: dict[int, float] = {}
        self.train_start: float | None = None
        self.first_batch: float | None = None
        self._named = 0  # timed calls and turns so far: an event that held none of them is named by itself
        self._event_depth = 0
        self._gui_ident = threading.get_ident()

    # --- installing ---------------------------------------------------------------------------------

    def install(self) -> TurnRecorder:
        import app.run.controller as controller_module

        w = self.window
        for path, name, label in self.PARTS:
            self._wrap(getattr(w, path) if path else w, name, label)
        for view in w.training.live.views:  # the slower views, one per update
            self._wrap(view, "draw", getattr(view, "name", type(view).__name__))
        original_drain = controller_module.drain
        controller_module.drain = self._timed(original_drain, "drain")
        self._undo.append(lambda: setattr(controller_module, "drain", original_drain))
        timer, turn = w.controller._timer, w.controller._drain
        timer.timeout.disconnect()
        timer.timeout.connect(self._timed_turn(turn))

        def reconnect():
            timer.timeout.disconnect()
            timer.timeout.connect(w.controller._drain)
        self._undo.append(reconnect)
        curve = w.loss_plot.batch_curve
        curve.sigPlotChanged.connect(self._changed)
        self._undo.append(lambda: curve.sigPlotChanged.disconnect(self._changed))
        gc.callbacks.append(self._gc)
        self._undo.append(lambda: gc.callbacks.remove(self._gc))
        marks = _WorkerMarks(self)
        w.controller.extra_callbacks.append(marks)
        self._undo.append(lambda: w.controller.extra_callbacks.remove(marks))
        return self

    def remove(self) -> None:
        while self._undo:
            self._undo.pop()()

    def start(self) -> None:
        self.recording = True

    def stop(self) -> None:
        self.recording = False

    def _wrap(self, obj, name: str, label: str | None) -> None:
        original = getattr(obj, name)
        had_own = name in vars(obj)
        setattr(obj, name, self._timed(original, label))
        self._undo.append(lambda: setattr(obj, name, original) if had_own else delattr(obj, name))

    # --- timing -------------------------------------------------------------------------------------

    def _timed(self, fn: Callable, label: str | None) -> Callable:
        def timed(*args, **kwargs):
            if not self.recording or self._depth:  # only the outermost timed call counts
                return fn(*args, **kwargs)
            self._depth += 1
            self._named += 1
            t0 = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                ms = (time.perf_counter() - t0) * 1000
                self._depth -= 1
                name = label if label is not None else str(args[1] if len(args) > 1 else kwargs.get("part"))
                if self._turn is not None:
                    parts = self._turn["parts"]
                    parts[name] = parts.get(name, 0.0) + ms
                else:
                    self.spans.append((name if name != "repaint" else "repaint outside a turn (a run's start)", t0, ms))
        return timed

    def _timed_turn(self, drain_turn: Callable[[], None]) -> Callable[[], None]:
        def turn():
            if not self.recording:
                return drain_turn()
            self._named += 1
            self._turn = {"t": time.perf_counter(), "ms": 0.0, "cpu": time.thread_time(), "parts": {}}
            try:
                drain_turn()
            finally:
                t, self._turn = self._turn, None
                t["ms"] = (time.perf_counter() - t["t"]) * 1000
                t["cpu"] = (time.thread_time() - t["cpu"]) * 1000
                if "drain" in t["parts"]:  # a tick with nothing buffered is no turn
                    t["parts"]["other"] = max(0.0, t["ms"] - sum(t["parts"].values()))
                    self.turns.append(t)
                elif t["ms"] > 1:
                    self.spans.append(("drain tick with nothing buffered", t["t"], t["ms"]))
        return turn

    def notify(self, deliver: Callable[[], bool], receiver, event) -> bool:
        """Deliver a Qt event (TimedApplication.notify), timing it when it is the GUI thread's outermost and
        held none of the calls timed by name: a long one is named by its type and receiver."""
        if not self.recording or self._event_depth or threading.get_ident() != self._gui_ident:
            return deliver()
        self._event_depth += 1
        named, t0 = self._named, time.perf_counter()
        kind = event.type()  # read before delivery: the event may be deleted by it
        try:
            return deliver()
        finally:
            self._event_depth -= 1
            ms = (time.perf_counter() - t0) * 1000
            if ms >= 1 and self._named == named:
                who = type(receiver).__name__
                name = receiver.objectName() if hasattr(receiver, "objectName") else ""
                what = getattr(kind, "name", str(kind))
                self.spans.append((f"Qt {what} to {who}{f' {name!r}' if name else ''}", t0, ms))

    def _changed(self, *_args) -> None:
        if self._turn is not None:  # moved by a drain (not by the click's clearing, nor by a range change)
            self.updates.append(time.perf_counter())

    def _gc(self, phase: str, info: dict) -> None:
        # Called in whichever thread collects; a collection holds the interpreter lock, so any thread's stalls the GUI.
        key = threading.get_ident()
        if phase == "start":
            self._gc_start[key] = time.perf_counter()
        elif self.recording and key in self._gc_start:
            t0 = self._gc_start.pop(key)
            ms = (time.perf_counter() - t0) * 1000
            if ms >= 1:
                self.spans.append((f"gc gen {info.get('generation')} ({threading.current_thread().name})", t0, ms))


class _WorkerMarks(Callback):
    """A trainer callback (training thread): when the run's training began and its first batch ended."""

    def __init__(self, recorder: TurnRecorder):
        self.recorder = recorder

    def on_train_start(self, info) -> None:
        if self.recorder.recording:
            self.recorder.train_start = time.perf_counter()

    def on_batch_end(self, event) -> None:
        if self.recorder.first_batch is None and self.recorder.recording:
            self.recorder.first_batch = time.perf_counter()


# --- one case, in the child process ----------------------------------------------------------------
