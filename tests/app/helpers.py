"""Small helpers the GUI tests share: find a control by objectName, click it, fake device lists."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QWidget

from core.devices import DeviceInfo

# A machine with one GPU, so the device combo's enabled and disabled entries are both tested on any host.
FAKE_DEVICES = [
    DeviceInfo("cpu", "cpu", True),
    DeviceInfo("cuda:0", "cuda:0 (Test GPU)", True),
    DeviceInfo("mps", "mps", False, "this PyTorch build has no MPS support (MPS needs macOS on Apple silicon)"),
]
CPU_ONLY = [
    DeviceInfo("cpu", "cpu", True),
    DeviceInfo("cuda", "cuda", False, "this PyTorch build has no CUDA support (a CPU-only wheel)"),
    DeviceInfo("mps", "mps", False, "this PyTorch build has no MPS support (MPS needs macOS on Apple silicon)"),
]



def widget(window, name: str, cls=QWidget):
    """The child named `name` (objectName), failing the test clearly when there is none."""
    w = window.findChild(cls, name)
    assert w is not None, f"no {cls.__name__} named {name!r}"
    return w


def click(qtbot, button) -> None:
    assert button.isEnabled(), f"{button.objectName()} is disabled"
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


class GapProbe:
    """The event loop's longest gap: a 10 ms timer's ticks, and the largest time between two of them.

    (A 5 ms timer lets 25 ms turns hide under its 1% line; gaps, not delays past the due time, are what
    a person sees as a stutter.)"""

    def __init__(self, interval_ms: int = 10):
        import time

        from PySide6.QtCore import QTimer

        self._now = time.perf_counter
        self.gaps: list[float] = []
        self._last = None
        self._timer = QTimer()
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self._tick)

    def __enter__(self) -> "GapProbe":
        self._last = self._now()
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.stop()

    def _tick(self) -> None:
        now = self._now()
        self.gaps.append(now - self._last)
        self._last = now

    @property
    def worst_ms(self) -> float:
        return 1000 * max(self.gaps, default=0.0)


class ThreadRecorder:
    """Wraps functions (module, name) to record the threads they run on: work that grows with the data,
    the model or a file must never run on the GUI thread (a cause of event-loop gaps a test can check on
    a busy machine, where a wall-clock bound cannot be)."""

    def __init__(self, monkeypatch, *targets) -> None:
        import threading

        self.gui = threading.get_ident()
        self.calls: dict[str, list[int]] = {}
        for module, name in targets:
            original = getattr(module, name)

            def wrapped(*args, _original=original, _name=name, **kwargs):
                self.calls.setdefault(_name, []).append(threading.get_ident())
                return _original(*args, **kwargs)

            monkeypatch.setattr(module, name, wrapped)

    def assert_off_the_gui_thread(self, *names: str) -> None:
        for name in names:
            assert self.calls.get(name), f"{name} never ran"
        on_gui = [name for name, threads in self.calls.items() if self.gui in threads]
        assert not on_gui, f"ran on the GUI thread: {on_gui}"
