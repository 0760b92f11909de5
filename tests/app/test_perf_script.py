"""The GUI benchmark's measurements run and return sane numbers (no timing is asserted here)."""

import dataclasses
import gc
import math
import time

import pytest

from app.devtools import perf, perf_gui


def test_plot_update_and_memory_measurements_run(qapp):
    median, worst = perf.measure_plot(points=5_000, updates=3, chunk=100)
    assert 0 < median <= worst and math.isfinite(worst)
    assert math.isfinite(perf.measure_memory(points=5_000))


def test_gap_probe_records_the_time_between_ticks(qtbot):
    probe = perf_gui.GapProbe()
    assert probe.timer.interval() == 10
    probe.start()
    qtbot.waitUntil(lambda: len(probe.gaps_ms) >= 3, timeout=60_000)
    probe.stop()
    assert all(g > 0 for g in probe.gaps_ms) and len(probe.ends) == len(probe.cpu_ms) == len(probe.gaps_ms)
    assert all(c >= 0 for c in probe.cpu_ms) and probe.ends == sorted(probe.ends)


def test_percentile_and_update_rate():
    assert perf_gui.percentile([1.0, 2.0, 3.0], 50) == 2.0
    assert perf_gui.percentile([3.0, 1.0, 2.0], 100) == 3.0 and perf_gui.percentile(list(range(101)), 99) == 99
    assert math.isnan(perf_gui.percentile([], 99))
    # Four updates 0.1 s apart (one of them signalled twice), measured to 0.45 s: 3 intervals in 0.3 s.
    assert perf_gui.update_rate([0.1, 0.2, 0.2005, 0.3, 0.4], 0.45) == pytest.approx(10.0)
    # A curve that stopped moving: the time since counts.
    assert perf_gui.update_rate([0.1, 0.2, 0.3], 1.0) == pytest.approx(2 / 0.9)
    assert math.isnan(perf_gui.update_rate([0.1], 1.0))


def test_case_configs_are_the_book_and_the_presets_at_the_most_epochs():
    from core.config import SETTINGS_BY_KEY, TrainConfig

    most = SETTINGS_BY_KEY["epochs"].high
    book = perf_gui.case_config("appendix-a")
    assert book == dataclasses.replace(TrainConfig(), epochs=most)
    moons = perf_gui.case_config("moons")
    assert (moons.dataset.name, moons.dataset.samples, moons.batch_size, moons.learning_rate, moons.epochs) == \
        ("moons", 400, 16, 0.1, most)
    assert set(perf_gui.CASES) >= {"book-first", "book-warm", "moons-first", "units", "overlay"}


def test_turn_recorder_times_a_real_runs_turns_and_puts_everything_back(window, qtbot):
    import app.run.controller as controller_module

    window.config_panel.set_config(perf_gui.case_config("appendix-a"))  # the book's run, epochs at the maximum
    drain = controller_module.drain
    rec = perf_gui.TurnRecorder(window).install()
    slow_views = {"status", "epochs", "accuracy", "insight", "regions"}
    rec.start()
    with qtbot.waitSignal(window.controller.finished, timeout=60_000):
        window.start_training()
        qtbot.waitUntil(lambda: len(rec.turns) >= 3 and any(slow_views & set(t["parts"]) for t in rec.turns), timeout=60_000)
        rec.stop()
        window.stop_training()
    rec.remove()
    assert controller_module.drain is drain
    for name in ("_record_progress", "_draw_slow_part", "start_training"):
        assert name not in vars(window)
    assert "_end_gui_turn" not in vars(window.controller) and "refresh" not in vars(window.loss_plot)
    assert perf_gui._WorkerMarks not in map(type, window.controller.extra_callbacks) and rec._gc not in gc.callbacks

    for turn in rec.turns:
        parts = turn["parts"]
        assert {"drain", "record", "loss", "repaint", "other"} <= set(parts)
        assert turn["ms"] > 0 and turn["cpu"] >= 0
        assert sum(parts.values()) == pytest.approx(turn["ms"], rel=1e-6, abs=1e-6)
    assert any(label == "click on Train" for label, _, _ in rec.spans)
    assert rec.updates and rec.train_start is not None and rec.first_batch >= rec.train_start
    # The window still trains, fed by its own drain again.
    window.config_panel.set_config(dataclasses.replace(perf_gui.case_config("appendix-a"), epochs=20))
    with qtbot.waitSignal(window.controller.finished, timeout=60_000):
        window.start_training()
    assert len(window.batch_losses()) > 0


def test_turn_recorder_names_a_slow_qt_event(window):
    from PySide6.QtCore import QEvent, QObject

    rec = perf_gui.TurnRecorder(window)
    receiver = QObject()
    receiver.setObjectName("probe")
    rec.start()
    assert rec.notify(lambda: time.sleep(0.003) or True, receiver, QEvent(QEvent.Type.User)) is True
    rec.notify(lambda: True, receiver, QEvent(QEvent.Type.User))  # quick: not kept
    assert [label for label, _, _ in rec.spans] == ["Qt User to QObject 'probe'"]


def test_a_case_runs_and_is_summarized_with_its_longest_turn(qapp, tmp_path):
    result = perf_gui.run_case("book-first", 1.0, str(tmp_path / "s.ini"))
    assert result["gaps"] and result["turns"] and result["batches"] > 0 and result["runs"] == 1
    assert result["seconds"] >= 1.0 and len(result["gaps"]) == len(result["gap_ends"]) == len(result["gap_cpu"])
    summary = perf_gui.summarize([result, result])
    assert summary["longest"]["ms"] == max(t["ms"] for t in result["turns"])
    assert summary["p99"] <= summary["max"] and summary["processes"] == 2
    lines = perf.format_case("book-first", summary)
    assert any(line.strip().startswith("longest turn") and "repaint" in line for line in lines)
    assert any(line.strip().startswith("longest gap") for line in lines)
    assert perf.format_explained(summary)


def test_a_gap_is_held_by_what_overlapped_it_most():
    result = {
        "gaps": [10.0, 40.0, 30.0, 20.0], "gap_ends": [0.01, 0.05, 0.08, 0.10], "gap_cpu": [1.0, 35.0, 3.0, 18.0],
        "turns": [{"t": 0.015, "ms": 30.0, "cpu": 28.0, "parts": {"drain": 1.0, "repaint": 25.0, "other": 4.0}}],
        "spans": [("click on Train", 0.011, 3.0), ("the worker setting up the run (data, model)", 0.0, 80.0),
                  ("gc gen 2 (MainThread)", 0.085, 12.0)],
    }
    assert perf_gui.gap_causes(result) == {"a turn": 1, "the worker setting up the run (data, model)": 1, "gc gen 2 (MainThread)": 1}
    ms, end, inside = perf_gui.longest_gap(result)
    assert (ms, end) == (40.0, 0.05)
    assert inside[0] == "the GUI thread computed 35.0 ms of it" and "a turn of 30.0 ms (repaint 25.0, drain 1.0, other 4.0 ms)" in inside
    assert perf_gui.format_parts({"drain": 1.0, "loss": 0.01, "other": 0.5}) == "drain 1.0, other 0.5 ms"


def test_a_gap_case_runs_in_its_own_process():
    (result,) = perf.measure_case("book-first", 1, 0.5)
    assert result["case"] == "book-first" and result["gaps"] and result["delay"] >= 0.5


def test_drain_pacing_keeps_gui_share_and_bounds(qapp, monkeypatch):
    from app.run import controller as ctl

    c = ctl.TrainingController()
    clock = iter([0.0, 0.001, 0.101, 0.102])  # CPU seconds the GUI thread used: 1 ms, 100 ms, 1 ms per cycle
    monkeypatch.setattr(ctl.time, "thread_time", lambda: next(clock))
    c._gui_cpu, c._gui_cost = ctl.time.thread_time(), 0.0
    c._pace()
    assert c._timer.interval() == max(ctl.DRAIN_INTERVAL_MS, int(1000 * 0.001 / ctl.GUI_SHARE))
    c._pace()
    assert c._timer.interval() == ctl.MAX_DRAIN_INTERVAL_MS
    for _ in range(20):  # a cheap cycle in CPU, but a 50 ms turn that training waited through
        c._gui_cpu = 0.0
        monkeypatch.setattr(ctl.time, "thread_time", lambda: 0.001)
        c._pace(turn=0.05)
    # Liveness caps the period; the 50 ms turn is taken off the wait, so drains start a period apart.
    assert c._timer.interval() == min(ctl.MAX_DRAIN_INTERVAL_MS, int(1000 * 0.05 / ctl.GUI_SHARE)) - 50
    c.deleteLater()


def test_prepare_torch_freezes_and_is_idempotent():
    import gc
    import sys

    from app.run.warmup import prepare_torch

    prepare_torch()
    prepare_torch()
    from app.run import gc_guard

    # Automatic collection comes back as it was: off only while a window or a worker holds the guard.
    assert "torch._dynamo" in sys.modules and gc.isenabled() == (not gc_guard.is_held()) and gc.get_freeze_count() > 0


def test_busy_meter_counts_what_the_training_thread_waits_as_lost():
    import time

    from core.config import TrainConfig
    from core.events import Callback
    from core.training import Trainer

    computing = perf._BusyMeter()
    result = perf._headless(TrainConfig(epochs=30), computing)
    assert result.status == "finished" and 0 < computing.cpu and 0 < computing.share <= 1.05

    class Waits(Callback):  # as a training thread held while the GUI takes its turn
        def on_batch_end(self, event) -> None:
            time.sleep(0.01)

    waiting = perf._BusyMeter()
    Trainer(TrainConfig(epochs=30), [waiting, Waits()], threads=1).fit()
    assert waiting.share < 0.5 and waiting.share < computing.share
