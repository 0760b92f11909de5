"""TrainingController and its buffer: the callback and drain run synchronously without Qt, the thread with it."""

from __future__ import annotations

import threading

import numpy as np

import app.run.feed as feed_module
from app.run.controller import GuiFeed, RegionSnapshot, TrainingController, decision_regions, drain
from core.config import DatasetConfig, TrainConfig
from core.events import BatchEnd, EpochEnd, TrainResult, TrainStart
from core.training import Trainer


def test_callback_and_drain_keep_every_loss_in_order_without_qt():
    cb = GuiFeed(regions=True)
    trainer = Trainer(TrainConfig(), [cb])
    cb.trainer = trainer
    trainer.fit()
    kinds = [type(e) for e in cb.events]
    assert kinds[0] is TrainStart and kinds[-1] is TrainResult
    assert kinds.count(BatchEnd) == 6 and kinds.count(EpochEnd) == 3 and RegionSnapshot in kinds
    d = drain(cb.events)
    assert not cb.events
    assert d.steps.tolist() == [1, 2, 3, 4, 5, 6]
    assert np.round(d.losses, 2).tolist() == [0.75, 0.65, 0.44, 0.13, 0.03, 0.0]
    assert d.samples == 12 and d.start.batches_per_epoch == 2 and len(d.epochs) == 3
    assert d.result.status == "finished" and d.last_batch.step == 6
    assert d.regions.predicted.shape == d.regions.confidence.shape


def test_the_training_thread_waits_while_the_gui_takes_its_turn(monkeypatch):
    monkeypatch.setattr(feed_module, "GUI_TURN_TIMEOUT_S", 10.0)
    gate = threading.Event()  # cleared: the GUI is updating and painting
    cb = GuiFeed(gui_idle=gate)
    done = threading.Event()
    worker = threading.Thread(target=lambda: (cb.on_batch_end(BatchEnd(1, 1, 1, 0.5, 2, 3, 0.1)), done.set()))
    worker.start()
    assert not done.wait(0.1)  # held at the batch end
    gate.set()  # the GUI's turn is over
    assert done.wait(5)
    worker.join()
    assert len(cb.events) == 1


def test_a_gui_turn_that_does_not_end_delays_the_loop_once(monkeypatch):
    monkeypatch.setattr(feed_module, "GUI_TURN_TIMEOUT_S", 0.05)
    cb = GuiFeed(gui_idle=threading.Event())  # never set by anyone
    cb.on_batch_end(BatchEnd(1, 1, 1, 0.5, 2, 40, 0.1))
    # The one wait timed out and let the loop go: the next 39 batches do not wait at all (not forty 50 ms waits).
    assert cb.gui_idle.is_set()
    for step in range(2, 41):
        cb.on_batch_end(BatchEnd(1, step, step, 0.5, 2, 40, 0.1))
    assert len(cb.events) == 40 and cb.gui_idle.is_set()


def test_drain_takes_only_what_was_there():
    cb = GuiFeed()
    for step in range(1, 4):
        cb.on_batch_end(BatchEnd(1, step, step, 0.5, 2, 3, 0.1))
    d = drain(cb.events)
    assert d.steps.tolist() == [1, 2, 3]
    empty = drain(cb.events)
    assert len(empty.losses) == 0 and empty.result is None and empty.start is None


def test_decision_regions_only_for_2d_data():
    moons = Trainer(TrainConfig(dataset=DatasetConfig(name="moons", samples=40)))
    snap = decision_regions(moons, grid=10)
    assert snap.predicted.shape == (10, 10) and snap.x_range[0] < snap.x_range[1]
    assert ((snap.confidence >= 0.5) & (snap.confidence <= 1.0)).all()
    iris = Trainer(TrainConfig(dataset=DatasetConfig(name="iris")))
    assert decision_regions(iris) is None


def test_controller_runs_on_its_thread_and_signals_in_order(qtbot):
    controller = TrainingController()
    seen = []
    controller.progress.connect(lambda d: seen.append(d))
    with qtbot.waitSignal(controller.runFinished, timeout=60_000) as blocker:
        controller.start(TrainConfig())
        assert controller.is_running()
    assert not controller.is_running()
    result = blocker.args[0]
    assert result.status == "finished" and controller.trainer.steps == 6
    losses = np.concatenate([d.losses for d in seen])
    assert np.round(losses, 2).tolist() == [0.75, 0.65, 0.44, 0.13, 0.03, 0.0]


def test_controller_failure_emits_failed_then_finished(qtbot):
    controller = TrainingController()

    def broken(callbacks):
        raise ValueError("no such data")

    seen = []
    controller.failed.connect(lambda message: seen.append(("failed", message)))
    controller.runFinished.connect(lambda result: seen.append(("finished", result)))
    with qtbot.waitSignals([controller.failed, controller.runFinished], order="strict", timeout=60_000):
        controller.start(TrainConfig(), broken)
    assert seen == [("failed", "no such data"), ("finished", None)]
    assert controller.trainer is None and not controller.is_running()
    # ...and the next run works
    with qtbot.waitSignal(controller.runFinished, timeout=60_000) as blocker:
        controller.start(TrainConfig())
    assert blocker.args[0].status == "finished"


def test_controller_feeds_the_gui_at_most_about_20_times_a_second(qtbot):
    controller = TrainingController()
    drains = []
    controller.progress.connect(lambda d: drains.append(len(d.losses)))
    cfg = TrainConfig(dataset=DatasetConfig(name="moons", samples=500), batch_size=1, epochs=3, hidden_sizes=(8,),
                      learning_rate=0.05)
    with qtbot.waitSignal(controller.runFinished, timeout=60_000) as blocker:
        controller.start(cfg)
    result = blocker.args[0]
    assert sum(drains) == 1200 == result.steps
    assert len(drains) <= max(3, result.elapsed * 20 * 1.5 + 3)


def test_shutdown_stops_a_long_run_and_leaves_no_thread(qtbot):
    controller = TrainingController()
    cfg = TrainConfig(dataset=DatasetConfig(name="moons", samples=2000), batch_size=1, epochs=1000, hidden_sizes=(8,))
    started = threading.Event()

    class Started:
        def on_train_start(self, info): started.set()
        def on_batch_end(self, event): pass
        def on_epoch_end(self, event): pass
        def on_train_end(self, result): pass
        def on_exception(self, exc): pass

    controller.extra_callbacks.append(Started())
    controller.start(cfg)
    qtbot.waitUntil(started.is_set, timeout=60_000)
    with qtbot.waitSignal(controller.runFinished, timeout=60_000) as blocker:
        assert controller.shutdown(timeout_ms=2000)
    assert blocker.args[0].status == "stopped"
    assert not controller.is_running()
