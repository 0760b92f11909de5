"""The GUI-responsiveness cases of `python -m app.devtools.perf`: how long the event loop could not react while a run
trains, how often the live curve moves, and what each GUI turn spent its time on.

Each case runs in fresh processes (`python -m app.devtools.perf --gui-child CASE`), as a person meets it: the window
1280x800 is shown, the settings are set (epochs at their maximum, so the run never ends by itself), Train is
clicked 0.5 s after the window shows, and the run is measured for 5 s from the click. The cases (CASES): the
book's data as the process's first run (what the release check measures), the same started 6 s after the
app's own start-up (torch loaded behind the window), moons with its preset, spiral with the Units tab shown,
and a second run beside the first on the plot (Train, Stop, Reset, Train). Measured:

  gaps     the time between consecutive ticks of a 10 ms precise timer: what a person feels (a gap of
           40 ms is 30 ms during which a click, a key or a repaint waited);
  updates  changes of the live batch-loss curve per second (it looks live at 10 a second);
  turns    one GUI turn = one drain of the worker's events (TrainingController._drain): the drain,
           recording the events, the loss curve's update, the one slower view drawn that turn
           (status, epochs, accuracy, insight or regions) and the repaint (sendPostedEvents, while
           the training thread waits). Timed by wrapping one window's methods (the app is not edited).
  causes   what held each gap over 16 ms, and everything in the longest one: turns, the click, Qt events
           the GUI thread took over 1 ms for outside a turn (by type and receiver, from the application's
           notify), garbage collections in any thread, the worker building the run; and how much of the
           gap the GUI thread computed (the rest it waited: for the interpreter lock, or for the machine).
"""

from __future__ import annotations

import dataclasses
import gc
import json
import math
import os
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable

from core.events import Callback

TICK_MS = 10
GOAL_P99_MS = 16.0
GOAL_MAX_MS = 50.0
GOAL_UPDATES = 10.0  # the live curve's updates per second
CHECK_UPDATES = 8.0  # what the release check asks of the book's first run
RESULT_PREFIX = "RESULT "


@dataclasses.dataclass(frozen=True)
class Case:
    label: str
    dataset: str = "appendix-a"  # appendix-a: the book's data and settings (TrainConfig())
    delay_s: float = 0.5  # from the window shown to the click on Train
    launch: bool = False  # start as `torch-playground` does: torch loads behind the shown window
    tab: int = 0  # the top view tab shown (1: Units)
    overlay: bool = False  # a first run, stopped, Reset, then the measured run beside it


CASES: dict[str, Case] = {
    "book-first": Case("book's data, the process's first run, Train 0.5 s after the window shows"),
    "book-warm": Case("book's data, started as the app starts (torch loads behind the window), Train after 6 s",
                      delay_s=6.0, launch=True),
    "moons-first": Case("moons (400 samples, its preset), first run", dataset="moons"),
    "units": Case("spiral (400 samples, its preset), first run, the Units tab shown", dataset="spiral", tab=1),
    "overlay": Case("book's data, a second run overlaid (Train 2 s, Stop, Reset, Train)", overlay=True),
}
CHECK_CASE = "book-first"


def percentile(values, q: float) -> float:
    """The nearest-rank percentile `q` (0-100) of `values`; nan when empty."""
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q / 100 * (len(s) - 1))))] if s else float("nan")


def case_config(dataset: str):
    """The case's settings: the book's defaults (TrainConfig()) or a generated set with its preset, epochs at the maximum."""
    from core.config import DATASET_PRESETS, SETTINGS_BY_KEY, DatasetConfig, TrainConfig

    cfg = TrainConfig()
    if dataset != cfg.dataset.name:
        preset = {k: v for k, v in DATASET_PRESETS[dataset].items() if k != "epochs"}
        cfg = dataclasses.replace(cfg, dataset=DatasetConfig(name=dataset, samples=400), **preset)
    return dataclasses.replace(cfg, epochs=int(SETTINGS_BY_KEY["epochs"].high))


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


def _timed_application():
    """A QApplication whose `notify` hands every event to `recorder.notify` (when one is set): the child's."""
    from PySide6.QtWidgets import QApplication

    class TimedApplication(QApplication):
        recorder: TurnRecorder | None = None

        def notify(self, receiver, event) -> bool:  # noqa: N802 - Qt's name
            rec = self.recorder
            if rec is None:
                return super().notify(receiver, event)
            return rec.notify(lambda: super(TimedApplication, self).notify(receiver, event), receiver, event)

    return TimedApplication([sys.argv[0]])


def _after(seconds: float, fn: Callable[[], object]):
    """A precise single-shot timer (a plain one may fire up to 5% early); keep the returned QTimer."""
    from PySide6.QtCore import Qt, QTimer

    timer = QTimer()
    timer.setSingleShot(True)
    timer.setTimerType(Qt.TimerType.PreciseTimer)
    timer.timeout.connect(fn)
    timer.start(max(0, math.ceil(seconds * 1000)))
    return timer


def _wait(seconds: float) -> None:
    from PySide6.QtCore import QEventLoop

    loop = QEventLoop()
    _timer = _after(seconds, loop.quit)
    loop.exec()


def _wait_until(done: Callable[[], bool], timeout_s: float) -> bool:
    from PySide6.QtWidgets import QApplication

    end = time.perf_counter() + timeout_s
    while not done():
        if time.perf_counter() > end:
            return False
        QApplication.processEvents()
        time.sleep(0.002)
    return True


def run_case(case: str, seconds: float, settings: str, explain: bool = False) -> dict:
    """Run one case in this process (a fresh one, for a first run to be one) and return what was measured:
    gaps (ms), turns, spans and curve updates (seconds from the click), batches trained and runs shown.
    `explain` also times every Qt event the GUI thread takes outside the timed calls (when this process
    makes the QApplication); that costs a Python call per event, which made the gap holding the click
    10-15 ms longer and the p99 about 1 ms, so the numbers of such a run are not the case's."""
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication

    spec = CASES[case]
    app = QApplication.instance() or (_timed_application() if explain else QApplication([sys.argv[0]]))
    if spec.launch:
        from app.__main__ import launch

        app, window = launch([], restore_session=False, settings=settings)
        shown = time.perf_counter()
    else:
        from app.window.main_window import MainWindow

        window = MainWindow(settings=settings)
        window.resize(1280, 800)
        window.show()
        shown = time.perf_counter()
    window.resize(1280, 800)
    window.config_panel.set_config(case_config(spec.dataset))
    if spec.tab:
        window.view_tabs_top.setCurrentIndex(spec.tab)
    if spec.overlay:  # the first run, stopped, and Reset: its curve stays, beside the measured run's
        _wait(spec.delay_s - (time.perf_counter() - shown))
        window.start_training()
        _wait(2.0)
        window.stop_training()
        _wait_until(lambda: not window.is_training(), 60)
        window.reset_model()
        _wait(0.5)
    else:
        _wait(spec.delay_s - (time.perf_counter() - shown))
    if not window.is_torch_ready():  # the launch case on a slow machine: Train is not offered before torch
        _wait_until(window.is_torch_ready, 120)
    delay = time.perf_counter() - shown
    probe, rec = GapProbe(), TurnRecorder(window).install()
    if hasattr(app, "recorder"):
        app.recorder = rec
    loop = QEventLoop()
    marks: dict = {}

    def click():
        marks["timer"] = _after(seconds, loop.quit)
        rec.start()
        probe.start()
        marks["click"] = time.perf_counter()
        window.start_training()

    QTimer.singleShot(0, click)
    loop.exec()
    probe.stop()
    rec.stop()
    marks["end"] = time.perf_counter()
    batches = len(window.batch_losses())
    runs = len(window.runs)
    interval = window.controller._timer.interval()
    window.stop_training()
    _wait_until(lambda: not window.is_training(), 60)
    rec.remove()
    if hasattr(app, "recorder"):
        app.recorder = None
    window.shutdown()
    window.close()
    app.processEvents()
    t0 = marks["click"]
    spans = [(label, t - t0, ms) for label, t, ms in rec.spans]
    if rec.train_start is not None:
        spans.append(("the worker setting up the run (data, model)", 0.0, (rec.train_start - t0) * 1000))
        if rec.first_batch is not None:
            spans.append(("the worker's first batch", rec.train_start - t0, (rec.first_batch - rec.train_start) * 1000))
    return {
        "case": case,
        "seconds": marks["end"] - t0,
        "delay": delay,
        "gaps": probe.gaps_ms,
        "gap_ends": [e - t0 for e in probe.ends],
        "gap_cpu": probe.cpu_ms,
        "turns": [{**t, "t": t["t"] - t0} for t in rec.turns],
        "spans": spans,
        "updates": [u - t0 for u in rec.updates],
        "batches": batches,
        "runs": runs,
        "interval_ms": interval,
    }


def gui_child(case: str, seconds: float, explain: bool = False) -> None:
    """`python -m app.devtools.perf --gui-child CASE [--explain]`: run the case and print its result as one JSON line."""
    with tempfile.TemporaryDirectory() as tmp:
        result = run_case(case, seconds, os.path.join(tmp, "s.ini"), explain)
    print(RESULT_PREFIX + json.dumps(result), flush=True)


# --- summaries --------------------------------------------------------------------------------------


def update_rate(updates: list[float], end: float) -> float:
    """The live curve's updates per second of training, from `updates` (when it changed, in seconds;
    changes within 2 ms of each other are one update): its intervals over the time from its first change
    to its last, or to `end` when it had stopped moving (no change in the last two intervals' time before
    `end`); nan without two updates."""
    times: list[float] = []
    for t in updates:
        if not times or t - times[-1] > 0.002:
            times.append(t)
    if len(times) < 2:
        return float("nan")
    span = times[-1] - times[0]
    if end - times[-1] > 2 * span / (len(times) - 1):
        span = end - times[0]
    return (len(times) - 1) / span


def gap_stats(result: dict) -> dict:
    g = result["gaps"]
    return {"p50": percentile(g, 50), "p99": percentile(g, 99), "max": max(g) if g else float("nan"),
            "click": g[0] if g else float("nan"), "after_click": max(g[1:]) if len(g) > 1 else float("nan"),
            "ticks": len(g), "updates": update_rate(result["updates"], result["seconds"]),
            "first": result["updates"][0] if result["updates"] else float("nan"),
            "batches": result["batches"] / result["seconds"]}


def longest_gap(result: dict) -> tuple[float, float, list[str]]:
    """The longest gap (ms), when it ended (s from the click) and what held the GUI thread in it."""
    if not result["gaps"]:
        return float("nan"), float("nan"), []
    i = max(range(len(result["gaps"])), key=result["gaps"].__getitem__)
    ms, end = result["gaps"][i], result["gap_ends"][i]
    lo = end - ms / 1000
    inside, named = [], 0.0
    for t in result["turns"]:
        if t["t"] < end and t["t"] + t["ms"] / 1000 > lo:
            inside.append((t["t"], f"a turn of {t['ms']:.1f} ms ({format_parts(t['parts'], 2)})"))
            named += min(end, t["t"] + t["ms"] / 1000) - max(lo, t["t"])
    for label, t, span in result["spans"]:
        if t < end and t + span / 1000 > lo:
            inside.append((t, f"{label} {span:.1f} ms"))
            named += (min(end, t + span / 1000) - max(lo, t)) if _on_gui_thread(label) else 0.0
    inside.sort(key=lambda x: x[0])
    cpu = result["gap_cpu"][i]
    texts = [f"the GUI thread computed {cpu:.1f} ms of it", *(text for _, text in inside)]
    if cpu - named * 1000 > 2:
        texts.append(f"about {cpu - named * 1000:.0f} ms of GUI work in none of these (Qt handling events outside the "
                     f"timed calls: scene updates, layouts, paints; --explain names them)")
    return ms, end, texts


def _on_gui_thread(label: str) -> bool:
    """Whether a span's label is the GUI thread's (not the worker's set-up, nor another thread's collection)."""
    return not label.startswith("the worker") and (not label.startswith("gc ") or "(MainThread)" in label)


def _held_by(result: dict, lo: float, end: float) -> str:
    """What overlapped the time from `lo` to `end` most: a turn, or a span by its label (the GUI thread's
    own first, other threads' only when it had none); `nothing named` when nothing did."""
    best = {True: (0.0, ""), False: (0.0, "")}  # by whether it is the GUI thread's
    items = [("a turn", t["t"], t["ms"]) for t in result["turns"]] + [tuple(span) for span in result["spans"]]
    for label, t, ms in items:
        overlap = min(end, t + ms / 1000) - max(lo, t)
        gui = _on_gui_thread(label)
        if overlap > best[gui][0]:
            best[gui] = (overlap, label)
    return best[True][1] or best[False][1] or "nothing named"


def gap_causes(result: dict, over_ms: float = GOAL_P99_MS) -> dict[str, int]:
    """For each gap longer than `over_ms`, what held it (see _held_by), counted."""
    causes: dict[str, int] = {}
    for ms, end in zip(result["gaps"], result["gap_ends"], strict=True):
        if ms > over_ms:
            label = _held_by(result, end - ms / 1000, end)
            causes[label] = causes.get(label, 0) + 1
    return causes


def format_parts(parts: dict, top: int | None = None) -> str:
    """Parts by time, biggest first (`top` of them, the rest summed as `other`)."""
    items = sorted(((k, v) for k, v in parts.items() if k != "other" and v >= 0.05), key=lambda kv: -kv[1])
    other = parts.get("other", 0.0)
    if top is not None and len(items) > top:
        other += sum(v for _, v in items[top:])
        items = items[:top]
    return ", ".join(f"{k} {v:.1f}" for k, v in [*items, ("other", other)]) + " ms"


def summarize(results: list[dict]) -> dict:
    """The case over its processes: each statistic's median (and range), the longest turn of all, the
    median turn (by its whole time, over all the turns), and the longest gap of the process that had it."""
    stats = [gap_stats(r) for r in results]
    out = {k: statistics.median(s[k] for s in stats)
           for k in ("p50", "p99", "max", "click", "after_click", "updates", "first", "batches")}
    out["ranges"] = {k: (min(s[k] for s in stats), max(s[k] for s in stats)) for k in ("p99", "max", "updates")}
    out["processes"] = len(results)
    out["seconds"] = statistics.median(r["seconds"] for r in results)
    out["delay"] = statistics.median(r["delay"] for r in results)
    out["runs"] = max(r["runs"] for r in results)
    turns = [t for r in results for t in r["turns"]]
    out["turns"] = len(turns) / len(results)
    out["longest"] = max(turns, key=lambda t: t["ms"]) if turns else None
    out["median_turn"] = sorted(turns, key=lambda t: t["ms"])[(len(turns) - 1) // 2] if turns else None
    causes: dict[str, int] = {}
    for r in results:
        for label, n in gap_causes(r).items():
            causes[label] = causes.get(label, 0) + n
    out["causes"] = {k: n / len(results) for k, n in sorted(causes.items(), key=lambda kv: -kv[1])}
    worst = max(results, key=lambda r: max(r["gaps"], default=0.0))
    out["gap"] = longest_gap(worst)
    out["met"] = {"p99": out["p99"] <= GOAL_P99_MS, "max": out["max"] <= GOAL_MAX_MS, "updates": out["updates"] >= GOAL_UPDATES}
    return out
