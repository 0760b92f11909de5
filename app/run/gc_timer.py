"""The GUI-thread timer of app.run.gc_guard: a QTimer on the QApplication that calls collect_due."""

from __future__ import annotations

from PySide6.QtCore import QCoreApplication, QTimer

from app.run import gc_guard

_timer: QTimer | None = None


def hold() -> None:
    """gc_guard.hold() with the GUI thread's timer in place (call it on the GUI thread)."""
    _install()
    gc_guard.hold()


def release() -> None:
    gc_guard.release()


def _install() -> None:
    global _timer
    if _timer is not None:
        return
    app = QCoreApplication.instance()
    if app is None:  # no event loop to collect from: a plain hold
        return
    _timer = QTimer(app)
    _timer.setObjectName("gcGuardTimer")
    _timer.setInterval(gc_guard.INTERVAL_MS)
    _timer.timeout.connect(gc_guard.collect_due)
    gc_guard.set_scheduler(_timer.start, _timer.stop)
