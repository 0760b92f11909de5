"""Nothing hangs the window: files that are not files, reads that never end, typed predictions (issue 18)."""

from __future__ import annotations

import os
import threading

import torch
from PySide6.QtCore import QTimer

from app import window_files
from core.model import NeuralNetwork
from tests.app.helpers import widget


class GapMeter:
    """The longest gap between the ticks of a 10 ms timer: how long the event loop was held."""

    def __init__(self) -> None:
        import time

        self._clock = time.perf_counter
        self.longest = 0.0
        self._last = self._clock()
        self.timer = QTimer()
        self.timer.setInterval(10)
        self.timer.timeout.connect(self._tick)
        self.timer.start()

    def _tick(self) -> None:
        now = self._clock()
        self.longest = max(self.longest, now - self._last)
        self._last = now

    def stop(self) -> float:
        self.timer.stop()
        return self.longest


def _book_file(path) -> None:
    torch.manual_seed(123)
    torch.save(NeuralNetwork(2, 2).state_dict(), path)


def test_an_open_that_never_ends_is_given_up_and_the_window_stays_usable(window, tmp_path, monkeypatch):
    release = threading.Event()

    def never_ends(path, cfg, cancel, data):
        release.wait(30)  # ignores its cancel event, as a read on a hung network disk would
        raise AssertionError("not reached in time")

    monkeypatch.setattr(window_files, "OPEN_DEADLINE_S", 0.5)
    monkeypatch.setattr(window_files, "open_model", never_ends)
    path = tmp_path / "slow.pt"
    _book_file(path)
    try:
        assert window.load_model(path) is False
        status = widget(window, "statusLabel").text()
        assert "slow.pt" in status and "took longer than" in status
        assert widget(window, "trainButton").isEnabled()
        assert not window.has_model()
    finally:
        release.set()


def test_a_fifo_or_a_device_is_refused_at_once_naming_what_it_is(window, tmp_path):
    fifo = tmp_path / "pipe.pt"
    os.mkfifo(fifo)
    meter = GapMeter()
    try:
        for path, what in ((fifo, "named pipe"), ("/dev/zero", "character device"), (tmp_path, "folder")):
            assert window.load_model(path) is False
            status = widget(window, "statusLabel").text()
            assert os.path.basename(os.fspath(path)) in status and what in status, status
    finally:
        gap = meter.stop()
    print(f"longest event-loop gap while refusing: {1000 * gap:.1f} ms")
    assert not window.has_model()
