"""ProcessRun: a torchrun run of N processes behind TrainingController's signals; the book's DDP numbers
streamed, stop and pause of every process, failures in words, nothing left running."""

from __future__ import annotations

import os
import shlex
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from app.run.process_run import ProcessRun, command_text, config_overrides, torchrun_command
from core.checkpoint import load_model_file
from core.config import TrainConfig, apply_overrides
from tests.core.test_distributed import book_ddp_run, book_step_means

pytestmark = pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="checks the processes through /proc")

LONG = TrainConfig().with_changes(dataset={"name": "moons", "samples": 20000}, batch_size=8, epochs=50)


class Recorder:
    """Everything a run's signals brought, in order."""

    def __init__(self, run: ProcessRun):
        self.steps: list[int] = []
        self.losses: list[float] = []
        self.epochs = []
        self.starts = []
        self.failures: list[str] = []
        self.order: list[str] = []
        self.finished_at: float | None = None
        self.ticks = 0
        run.drained.connect(self._tick)
        run.progress.connect(self._progress)
        run.failed.connect(lambda text: (self.failures.append(text), self.order.append("failed")))
        run.runFinished.connect(lambda result: self.order.append("runFinished"))
        run.finished.connect(self._finished)

    def _tick(self) -> None:
        self.ticks += 1

    def _progress(self, d) -> None:
        self.steps += d.steps.tolist()
        self.losses += d.losses.tolist()
        self.epochs += d.epochs
        if d.start is not None:
            self.starts.append(d.start)

    def _finished(self, result) -> None:
        self.order.append("finished")
        self.finished_at = time.monotonic()


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return "gone"


def assert_nothing_left(run: ProcessRun, pids: list[int]) -> None:
    assert not run.is_running()
    assert not [t for t in threading.enumerate() if t.name == "ProcessRunReader"]
    torchrun_pid, *ranks = pids
    with pytest.raises(ProcessLookupError):
        os.killpg(torchrun_pid, 0)  # torchrun's group: nobody left in it
    # Each rank leads a group of its own; ended (a zombie waits only for this container's init to reap it).
    assert all(_state(pid) in ("gone", "Z") for pid in ranks), [(pid, _state(pid)) for pid in ranks]


# --- commands --------------------------------------------------------------------------------------------


def test_commands():
    cfg = TrainConfig()
    assert torchrun_command(cfg, 2, "/tmp/run/config.json", out="/tmp/run/model.pt", python="python") == [
        "python", "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "core", "train",
        "--config", "/tmp/run/config.json", "--out", "/tmp/run/model.pt", "--events", "-",
    ]  # fmt: skip
    assert command_text(cfg, 2) == "torchrun --nproc_per_node=2 -m core train --out model.pt"
    assert (
        command_text(cfg, 4, "run.json", out="big.pt")
        == "torchrun --nproc_per_node=4 -m core train --config run.json --out big.pt"
    )
    with pytest.raises(ValueError, match="at least 1"):
        torchrun_command(cfg, 0, "c.json")


def test_command_text_reads_back_as_the_same_config():
    cfg = TrainConfig().with_changes(
        dataset={"name": "csv", "path": "/data/my runs/points.csv", "label_column": "123", "test_fraction": 0.125},
        hidden_sizes=(64, 64, 32),
        learning_rate=0.01,
        optimizer="adam",
        shuffle=False,
        epochs=20,
        device="cuda",
    )
    text = command_text(cfg, 8)
    words = shlex.split(text)
    assert words[:5] == ["torchrun", "--nproc_per_node=8", "-m", "core", "train"]
    sets = [words[i + 1] for i, w in enumerate(words) if w == "--set"]
    assert sets == config_overrides(cfg)
    assert "hidden_sizes=[64,64,32]" in sets and 'dataset.label_column="123"' in sets  # text that looks like JSON stays text
    assert apply_overrides(TrainConfig(), sets) == cfg


# --- runs --------------------------------------------------------------------------------------------------


def test_a_run_of_two_processes_streams_the_mean_loss_of_each_step(qtbot):
    run = ProcessRun(TrainConfig(), 2)
    rec = Recorder(run)
    with qtbot.waitSignal(run.runFinished, timeout=60_000) as finished:
        run.start()
    qtbot.waitUntil(lambda: rec.finished_at is not None, timeout=60_000)
    result = finished.args[0]
    assert rec.failures == [] and rec.order == ["runFinished", "finished"]
    assert result.status == "finished" and result.steps == 3 and result.last_epoch.test_accuracy == 1.0
    assert rec.steps == [1, 2, 3]
    assert rec.losses == pytest.approx(book_step_means(), abs=1e-6)
    assert [e.epoch for e in rec.epochs] == [1, 2, 3] and rec.starts[0].train_samples == 5
    # the window opens the saved model as any file: the book's final weights, and the streamed losses
    model = load_model_file(run.model_path)
    _, _, book_weights = book_ddp_run()
    for key, value in book_weights.items():
        torch.testing.assert_close(model.state_dict[key], value, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(model.history.losses(), rec.losses)
    assert not run.is_running() and not [t for t in threading.enumerate() if t.name == "ProcessRunReader"]
    folder = run.folder
    run.cleanup()
    assert not os.path.exists(folder) and run.model_path is None


def test_pause_holds_every_process_and_stop_ends_them_within_a_second(qtbot):
    run = ProcessRun(LONG, 2)
    rec = Recorder(run)
    run.start()
    try:
        qtbot.waitUntil(lambda: len(rec.steps) >= 5, timeout=60_000)
        pids = run.process_ids()
        assert len(pids) == 3  # torchrun and its two ranks

        run.set_paused(True)
        assert run.is_paused()
        qtbot.waitUntil(lambda: all(_state(pid) == "T" for pid in pids), timeout=60_000)
        tick = rec.ticks
        qtbot.waitUntil(lambda: rec.ticks > tick, timeout=60_000)  # what was on its way has arrived
        held, tick = len(rec.steps), rec.ticks
        qtbot.waitUntil(lambda: rec.ticks >= tick + 4, timeout=60_000)
        assert len(rec.steps) == held  # paused: no step taken
        run.set_paused(False)
        assert not run.is_paused()
        qtbot.waitUntil(lambda: len(rec.steps) > held, timeout=60_000)

        t0 = time.monotonic()
        with qtbot.waitSignal(run.finished, timeout=60_000) as finished:
            run.stop()
        stopped_in = rec.finished_at - t0
        assert stopped_in < 1.0, stopped_in
    finally:
        run.shutdown(5000)
    assert rec.failures == []  # a stop is not a failure
    result = finished.args[0]
    assert result is None or result.status == "stopped"
    assert run.model_path is None  # a stopped run saves nothing
    assert_nothing_left(run, pids)
    run.cleanup()


def test_shutdown_waits_for_every_process(qtbot):
    run = ProcessRun(LONG, 2)
    rec = Recorder(run)
    run.start()
    qtbot.waitUntil(lambda: len(rec.steps) >= 1, timeout=60_000)
    pids = run.process_ids()
    run.set_paused(True)  # a paused run is let go before it is stopped
    t0 = time.monotonic()
    assert run.shutdown(30_000)
    print(f"shut down in {time.monotonic() - t0:.2f} s")
    assert rec.order == ["runFinished", "finished"]
    assert_nothing_left(run, pids)
    run.cleanup()


def test_a_failed_run_says_why(qtbot):
    # The book's 5 samples cannot feed 3 processes a batch of 2 each: every rank refuses before training.
    run = ProcessRun(TrainConfig(), 3)
    rec = Recorder(run)
    with qtbot.waitSignal(run.finished, timeout=60_000) as finished:
        run.start()
    assert finished.args[0] is None and run.model_path is None
    assert rec.order == ["failed", "runFinished", "finished"]
    assert rec.failures == [
        "3 processes with batch_size 2 and drop_last on need at least 6 training samples for one step (each process takes "
        "its own batch of 2), but the data has 5: use at most 2 processes, a batch_size of at most 1, turn drop_last off, "
        "use more training samples"
    ]
    assert not [t for t in threading.enumerate() if t.name == "ProcessRunReader"]
    run.cleanup()


def test_a_python_that_cannot_start_fails_in_words(qtbot, tmp_path):
    run = ProcessRun(TrainConfig(), 2, python=str(tmp_path / "no-python"))
    rec = Recorder(run)
    with qtbot.waitSignal(run.finished, timeout=60_000):
        run.start()
    assert rec.order == ["failed", "runFinished", "finished"]
    assert rec.failures[0].startswith(f"cannot start {tmp_path / 'no-python'}")
    assert not run.is_running()
    run.cleanup()


def test_stop_after_the_end_and_signals_to_nobody_are_harmless(qtbot):
    run = ProcessRun(TrainConfig(), 2)
    run.stop()
    run.set_paused(True)
    assert not run.is_paused() and not run.is_running() and run.shutdown(100)
