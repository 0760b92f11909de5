"""GUI test fixtures: settings in tmp_path, no QThread left running, and helpers that drive the real window."""

from __future__ import annotations

import traceback
import weakref

import pytest
from PySide6.QtCore import QSettings, QThread

from tests.app.helpers import FAKE_DEVICES, click, widget


@pytest.fixture(autouse=True)
def isolated_settings(tmp_path_factory, monkeypatch):
    """Every QSettings a test makes (ours or Qt's defaults) lives in a fresh folder, never the user's."""
    folder = tmp_path_factory.mktemp("settings")
    ini = folder / "torch-playground.ini"
    monkeypatch.setenv("TORCH_PLAYGROUND_SETTINGS", str(ini))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(folder))
    return ini


@pytest.fixture(autouse=True)
def _dangling_qthreads(monkeypatch, qapp):
    """Fail a test that leaves a QThread running (napari's fixture of the same name)."""
    started: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
    base_start = QThread.start

    def start_and_remember(self, *args, **kwargs):
        started[self] = "".join(traceback.format_stack(limit=6)[:-1])
        base_start(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", start_and_remember)
    yield
    running = []
    for thread, where in list(started.items()):
        try:
            # A thread that was told to stop may need a moment to leave its event loop.
            if thread.isRunning() and not thread.wait(2000):
                running.append(where)
        except RuntimeError:  # its C++ object is gone, so it finished
            pass
    assert not running, "test left QThread(s) running, started at:\n" + "\n".join(running)


@pytest.fixture(autouse=True)
def _collect_on_the_gui_thread():
    """While a window or a worker holds app.run.gc_guard, automatic collection is off and only the event
    loop's timer collects: collect what is due here, on the GUI thread, after each test too."""
    yield
    from app.run import gc_guard

    if gc_guard.is_held():
        gc_guard.collect_due()


@pytest.fixture
def make_window(qtbot, isolated_settings):
    """Build MainWindow(s) the way the app does, shown, with the fake one-GPU device list."""
    from app.main_window import MainWindow

    windows = []

    def make(**kwargs):
        kwargs.setdefault("devices", FAKE_DEVICES)
        w = MainWindow(**kwargs)
        qtbot.addWidget(w)
        w.show()
        windows.append(w)
        return w

    yield make
    for w in windows:
        try:
            w.shutdown()
        except RuntimeError:  # already deleted
            pass


@pytest.fixture
def window(make_window):
    return make_window()


@pytest.fixture
def train(qtbot):
    """Click Train and wait for the run to end (returns the TrainResult, None after a failure)."""
    def run(window, timeout: int = 120_000):
        with qtbot.waitSignal(window.controller.runFinished, timeout=timeout) as blocker:
            click(qtbot, widget(window, "trainButton"))
        return blocker.args[0]

    return run
