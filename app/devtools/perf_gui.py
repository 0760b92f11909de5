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
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable

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


from app.devtools.turns import TICK_MS, GapProbe, TurnRecorder, _WorkerMarks  # noqa: E402, F401 (re-exported)


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
