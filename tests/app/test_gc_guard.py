"""Python's collector never runs on a worker thread while the window lives (the CI deadlock of issue 18)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import textwrap
import threading
import weakref
from pathlib import Path

from PySide6.QtWidgets import QMenu, QWidget

from app.run import gc_guard
from tests.app.helpers import widget

REPO = Path(__file__).resolve().parents[2]


class _Part:
    """A Python object that owns a widget with a menu, in a reference cycle (as a view and its slots are)."""


def _garbage_widgets(n: int) -> list[weakref.ref]:
    """Widgets and menus in reference cycles, dropped: only the cyclic collector can free them."""
    refs = []
    for i in range(n):
        part = _Part()
        part.widget = QWidget()
        part.menu = QMenu(f"menu {i}", part.widget)
        for k in range(3):
            part.menu.addAction(f"action {k}")
        part.me = part  # the cycle
        refs.append(weakref.ref(part))
    return refs


def test_collections_run_on_the_gui_thread_only(qtbot, window, train):
    main = threading.get_ident()
    seen: list[int] = []

    def record(phase, _info):
        if phase == "start":
            seen.append(threading.get_ident())

    combo = widget(window, "datasetCombo")
    combo.setCurrentIndex(combo.findData("moons"))
    widget(window, "epochsSpin").setValue(15)
    widget(window, "batchSizeSpin").setValue(4)
    refs = _garbage_widgets(20)
    gc.callbacks.append(record)
    try:
        assert not gc.isenabled()  # the window holds the guard: no automatic collection anywhere
        train(window, timeout=120_000)
        # The GUI thread's timer frees the dropped widgets: the guard collects, it does not only switch off.
        qtbot.waitUntil(lambda: all(r() is None for r in refs), timeout=60_000)
    finally:
        gc.callbacks.remove(record)
    assert seen, "no collection ran at all"
    assert set(seen) == {main}, f"{sum(t != main for t in seen)} of {len(seen)} collections ran off the GUI thread"


def test_holds_are_counted_and_give_automatic_collection_back(qapp):
    was = gc.isenabled()
    gc_guard.hold()
    gc_guard.hold()
    assert not gc.isenabled() and gc_guard.is_held()
    gc_guard.release()
    assert not gc.isenabled()
    with gc_guard.suspended():
        assert not gc.isenabled()
        frozen = gc.get_freeze_count()
    assert gc.get_freeze_count() >= frozen and not gc.isenabled()
    gc_guard.release()
    assert gc.isenabled() == was or gc_guard.is_held()


def test_a_window_with_menus_dropped_while_a_run_trains_never_deadlocks(tmp_path):
    # The CI hang, as a user meets it: windows, menus and dialogs become garbage while a run allocates
    # tensors on the training thread. In a child process, so that a deadlock fails this test instead
    # of hanging the suite; before the guard the training thread's collections destroyed the menus.
    script = tmp_path / "scenario.py"
    script.write_text(textwrap.dedent("""
        import gc, sys, weakref
        from PySide6.QtWidgets import QApplication, QMenu, QWidget
        from PySide6.QtCore import QTimer
        app = QApplication([])
        from app.main_window import MainWindow
        from core.devices import DeviceInfo
        w = MainWindow(devices=[DeviceInfo("cpu", "cpu", True)])
        w.show()
        import dataclasses
        w.config_panel.set_config(dataclasses.replace(w.config_panel.config(), epochs=40, activation="tanh"))
        dropped = []
        class Part: pass
        def drop_some():
            for i in range(10):
                part = Part(); part.widget = QWidget(); part.menu = QMenu("m", part.widget); part.menu.addAction("a")
                part.me = part
                dropped.append(weakref.ref(part))
        timer = QTimer(); timer.timeout.connect(drop_some); timer.start(5)
        done = []
        w.controller.runFinished.connect(lambda r: (done.append(r), app.quit()))
        QTimer.singleShot(0, w.start_training)
        QTimer.singleShot(60_000, app.quit)
        app.exec()
        timer.stop()
        w.shutdown()
        print("finished", bool(done), sum(r() is None for r in dropped), len(dropped))
    """))
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "TORCH_PLAYGROUND_SETTINGS": str(tmp_path / "s.ini"),
           "PYTHONPATH": str(REPO)}
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, env=env, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    words = proc.stdout.split()
    assert words[:2] == ["finished", "True"], proc.stdout + proc.stderr[-2000:]
    assert int(words[2]) > 0  # dropped widgets were collected (on the GUI thread)
