"""Nothing hangs the window: files that are not files, reads that never end, typed predictions (issue 18)."""

from __future__ import annotations

import os
import threading

import torch
from PySide6.QtCore import QTimer

from app.window import files as window_files
from app.window import views as window_views
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
        return None  # given up long before: its outcome is dropped

    monkeypatch.setattr(window_views, "OPEN_DEADLINE_S", 0.5)
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


def test_a_model_file_whose_data_is_a_device_opens_without_waiting_for_it(window, tmp_path, qtbot):
    # A valid app file whose stored config reads its CSV from /dev/stdin: binding used to read the
    # terminal forever, and the remembered config hung every later launch the same way.
    from core.checkpoint import save_model_file
    from core.config import DatasetConfig, TrainConfig

    cfg = TrainConfig(dataset=DatasetConfig(name="csv", path="/dev/stdin"))
    torch.manual_seed(123)
    path = tmp_path / "stdin.pt"
    save_model_file(path, model_state=NeuralNetwork(2, 2, (30, 20)).state_dict(), config=cfg)
    meter = GapMeter()
    try:
        assert window.load_model(path)  # the weights are fine: they open
        qtbot.waitUntil(lambda: "/dev/stdin" in widget(window, "statusLabel").text(), timeout=60_000)
        text = widget(window, "statusLabel").text()
    finally:
        gap = meter.stop()
    print(f"longest event-loop gap: {1000 * gap:.1f} ms")
    assert "/dev/stdin" in text and "not a regular file" in text, text
    assert widget(window, "trainButton").isEnabled()


def test_a_typed_prediction_that_is_not_finite_says_so(window, tmp_path, qtbot):
    torch.manual_seed(123)
    path = tmp_path / "book.pth"
    torch.save(NeuralNetwork(2, 2).state_dict(), path)
    assert window.load_model(path)
    edit = widget(window, "predictInputEdit")
    edit.setText("1e39, 0")
    result = window.predictions.predict_result
    window.predictions.predictRequested.emit(edit.text())
    qtbot.waitUntil(lambda: "finite" in result.text() or "float32" in result.text(), timeout=60_000)
    assert "p = nan" not in result.text() and "class 0" not in result.text(), result.text()


def test_a_settings_file_that_is_a_fifo_is_refused_and_the_window_starts(tmp_path, qtbot):
    from app.main_window import MainWindow
    from tests.app.helpers import FAKE_DEVICES

    fifo = tmp_path / "settings.ini"
    os.mkfifo(fifo)
    w = MainWindow(settings=str(fifo), devices=FAKE_DEVICES, restore_session=True)  # QSettings would block on it
    qtbot.addWidget(w)
    try:
        status = widget(w, "statusLabel").text()
        assert "settings.ini" in status and "named pipe" in status and "this session only" in status
        w.save_settings()  # written to the session's own file, never into the FIFO
        assert os.path.exists(fifo) and not os.path.isfile(fifo)
    finally:
        w.shutdown()
