"""The GUI benchmark's throughput and memory cases: training in the window against headless, the live plot with a
million losses, and the memory of a million-batch history."""

from __future__ import annotations

import gc
import os
import statistics
import tempfile
import threading
import time

from app.devtools.perf_gui import (
    update_rate,
)
from core.events import Callback


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _gui_run(window, updates: list[float] | None = None):
    """Click Train (through the window's own slot) and wait for the run's result; with `updates`, append
    the live batch curve's updates per second of the run (its data changes over the run's wall time)."""
    from PySide6.QtCore import QEventLoop, QTimer

    results, changes = [], []
    loop = QEventLoop()

    def done(result):
        results.append(result)
        loop.quit()

    def changed(*_args):  # the curve moved by a run's batches (not the click's clearing, nor the end's redraw)
        run = window.loss_plot.current
        if window.controller.is_running() and run is not None and len(run):
            changes.append(time.perf_counter())

    curve = window.loss_plot.batch_curve
    window.controller.finished.connect(done)
    curve.sigPlotChanged.connect(changed)
    QTimer.singleShot(0, window.start_training)
    loop.exec()
    curve.sigPlotChanged.disconnect(changed)
    window.controller.finished.disconnect(done)
    if updates is not None and changes:
        updates.append(update_rate(changes, changes[-1]))  # the run has ended: from its curve's first move to its last
    return results[0]


def _settle(seconds: float) -> None:
    """Run the event loop for `seconds`: what is pending is painted, as before a person's click."""
    from PySide6.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec()


class _BusyMeter(Callback):
    """A trainer callback (it runs in the training thread) that measures what share of a run's wall
    time the training thread spent computing: its CPU time over the wall time, from the run's start to
    its end. Time it spent waiting (for the GUI's turn, for the interpreter lock) is the share it lost.

    It is the throughput ratio with the machine's own speed taken out: on a shared VM the same
    headless run's CPU time moved by 25% from one run to the next, so the samples/s of two runs
    compare the machine's moments as much as the app against headless."""

    def __init__(self):
        self.cpu = self.wall = float("nan")

    def on_train_start(self, info) -> None:
        self._cpu0, self._wall0 = time.thread_time(), time.perf_counter()

    def on_train_end(self, result) -> None:
        self.cpu = time.thread_time() - self._cpu0
        self.wall = time.perf_counter() - self._wall0

    @property
    def share(self) -> float:
        return self.cpu / self.wall


def _headless(cfg, meter: _BusyMeter | None = None):
    """The same engine in a plain thread, as in the app, with one intra-op thread."""
    from core.training import Trainer

    callbacks = [meter] if meter is not None else []
    out = {}
    th = threading.Thread(target=lambda: out.setdefault("result", Trainer(cfg, callbacks, threads=1).fit()))
    th.start()
    th.join()
    return out["result"]


def measure_training(cfg, repeats: int) -> dict:
    """Throughput: app and headless runs in back-to-back pairs, the order alternating, and the median of
    the pairs' ratios (a busy shared machine moved the same run's speed by 20-30% from one run to the
    next), after one app run that is not counted (a process's first run pays one-time costs). The live
    curve's updates per second during the app's runs are kept: the throughput is at that rate."""
    from PySide6.QtWidgets import QApplication

    from app.window.main_window import MainWindow

    app = QApplication.instance() or QApplication([])
    with tempfile.TemporaryDirectory() as tmp:
        window = MainWindow(settings=os.path.join(tmp, "s.ini"))
        window.resize(1280, 800)
        window.show()
        window.config_panel.set_config(cfg)
        while window.data_plot.shown_key != cfg.dataset:  # the data preview, made as settings change
            app.processEvents()
        _settle(0.3)  # and painted (its axes widen to their labels after a first paint), as a person sees it
        _gui_run(window)  # the process's first run: not counted
        gui, head, ratios, busy, cpu, updates = [], [], [], [], [], []
        app_meter, head_meter = _BusyMeter(), _BusyMeter()
        window.controller.extra_callbacks.append(app_meter)
        for i in range(repeats):
            window.reset_model()
            _settle(0.2)  # the Reset click's own repaint, before the click on Train
            if i % 2:
                h = _headless(cfg, head_meter)
                g = _gui_run(window, updates)
            else:
                g = _gui_run(window, updates)
                h = _headless(cfg, head_meter)
            gui.append(g.samples_per_second)
            head.append(h.samples_per_second)
            ratios.append(g.samples_per_second / h.samples_per_second)
            busy.append(app_meter.share / head_meter.share)
            # CPU seconds per sample, headless over app: the machine's speed moving between the two runs.
            cpu.append((head_meter.cpu / h.samples_per_second / h.elapsed) / (app_meter.cpu / g.samples_per_second / g.elapsed))
        window.controller.extra_callbacks.remove(app_meter)
        window.close()
        app.processEvents()
    return {
        "gui": statistics.median(gui),
        "headless": statistics.median(head),
        "ratio": statistics.median(ratios),
        "ratios": ratios,
        "busy": statistics.median(busy),
        "cpu": cpu,
        "updates": updates,
    }


def measure_plot(points: int, updates: int, chunk: int) -> tuple[float, float]:
    """Median and max ms of one live update (append `chunk` losses + a synchronous repaint of the
    plot's viewport, where the drawing happens) during a run that continues a `points`-batch history."""
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from app.plots.loss import LossPlot

    app = QApplication.instance() or QApplication([])
    plot = LossPlot()
    plot.resize(900, 500)
    plot.show()
    rng = np.random.default_rng(0)
    losses = np.abs(rng.normal(0.5, 0.2, points + updates * chunk)) / np.sqrt(np.arange(1, points + updates * chunk + 1))
    plot.append_batches(np.arange(1, points + 1, dtype=np.float64), losses[:points])
    # As the window does when a run continues a model: the whole history and the run on screen.
    plot.begin_run(points + 1, updates * chunk)
    app.processEvents()
    plot.viewport().repaint()
    times = []
    for i in range(updates):
        lo = points + i * chunk
        t0 = time.perf_counter()
        plot.append_batches(np.arange(lo + 1, lo + chunk + 1, dtype=np.float64), losses[lo : lo + chunk])
        plot.viewport().repaint()
        times.append((time.perf_counter() - t0) * 1000)
    plot.close()
    return statistics.median(times), max(times)


def measure_memory(points: int) -> float:
    """MB that a `points`-batch history adds: the trainer's History and the loss plot's buffers, drawn once."""
    import numpy as np
    from PySide6.QtWidgets import QApplication

    from app.plots.loss import LossPlot
    from core.training import History

    app = QApplication.instance() or QApplication([])
    plot = LossPlot()
    plot.resize(900, 500)
    plot.show()
    app.processEvents()
    gc.collect()
    before = _rss_mb()
    history = History()
    rng = np.random.default_rng(1)
    chunk = 1000  # as the GUI receives them: ~20 drains a second
    for lo in range(0, points, chunk):
        values = rng.random(chunk)
        history.batch_loss.extend(values.tolist())
        plot.append_batches(np.arange(lo + 1, lo + chunk + 1, dtype=np.float64), values)
    plot.viewport().repaint()
    gc.collect()
    after = _rss_mb()
    plot.close()
    return after - before
