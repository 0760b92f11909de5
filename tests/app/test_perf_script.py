"""The GUI benchmark's measurements run and return sane numbers (no timing is asserted here)."""

import math

from app import perf


def test_plot_update_and_memory_measurements_run(qapp):
    median, worst = perf.measure_plot(points=5_000, updates=3, chunk=100)
    assert 0 < median <= worst and math.isfinite(worst)
    assert math.isfinite(perf.measure_memory(points=5_000))


def test_latency_probe_records_ticks(qtbot):
    probe = perf._LatencyProbe()
    probe.start()
    qtbot.waitUntil(lambda: len(probe.late_ms) >= 3, timeout=5000)
    probe.stop()
    assert all(v >= 0 for v in probe.late_ms)
    assert perf._percentile([1.0, 2.0, 3.0], 50) == 2.0


def test_drain_pacing_keeps_gui_share_and_bounds(qapp, monkeypatch):
    from app import controller as ctl

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
    assert c._timer.interval() == min(ctl.MAX_DRAIN_INTERVAL_MS, int(1000 * 0.05 / ctl.GUI_SHARE))  # liveness caps the wait
    c.deleteLater()


def test_prepare_torch_freezes_and_is_idempotent():
    import gc
    import sys

    from app.controller import prepare_torch

    prepare_torch()
    prepare_torch()
    assert "torch._dynamo" in sys.modules and gc.isenabled() and gc.get_freeze_count() > 0


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
