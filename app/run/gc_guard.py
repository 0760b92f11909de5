"""Python's cyclic garbage collector runs on the GUI thread only, while the app has Qt objects and worker threads.

Why: a collection runs on whichever thread happens to allocate when a generation fills up. On the
training thread (inside `Tanh.forward`, allocating a tensor) it destroyed a cycle holding a dropped
QMenu: `~QWidget` waited for the interpreter lock inside shiboken while the GUI thread, deleting
another QMenu, held a Qt mutex and waited for that thread: both waited forever (py-spy's native stack
showed exactly that, a CI run hung twice). Qt objects must be destroyed on the GUI thread, so while
the window lives (or a run or a task is at work) automatic collection is off and a GUI-thread timer
collects each generation when the collector's own thresholds say it is due: pyqtgraph's
`util.garbage_collector.GarbageCollector`, which we weighed against two others: calling
`gc.collect()` in the worker after each batch (still a worker-thread collection, exactly the bug) and
breaking every cycle that holds a Qt object (cannot be guaranteed for pyqtgraph's or shiboken's own).

Holds are counted: the window holds from its construction to its shutdown, a run and a task while
their thread works. When the last hold goes, one full collection runs here on the GUI thread and
automatic collection comes back as it was. `suspended()` keeps every collection off for a while
(torch's big one-time import, see app.run.controller.prepare_torch) and freezes what it made.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Callable, Iterator

# How often the GUI thread looks whether a generation is due. The young generation fills up within
# milliseconds during a run, but what a young collection finds is small; a 4th of a second keeps
# the garbage of a run to a few thousand objects and the check itself costs microseconds.
INTERVAL_MS = 250

_lock = threading.RLock()
_holds = 0
_suspended = 0
_was_enabled = True  # automatic collection before the first hold or suspension
_start: Callable[[], None] | None = None  # starts collect_due on a GUI-thread timer (set_scheduler)
_stop: Callable[[], None] | None = None
_collections = 0  # collections this module ran, for tests and app.devtools.perf


def _off() -> bool:
    return _holds > 0 or _suspended > 0


def _turn_off() -> None:
    global _was_enabled
    if not _off():
        _was_enabled = gc.isenabled()
    gc.disable()


def _turn_back() -> None:
    if not _off() and _was_enabled:
        gc.enable()


def hold() -> None:
    """Keep collection on the GUI thread (call it on the GUI thread, with a QApplication made)."""
    global _holds
    with _lock:
        _turn_off()
        _holds += 1
        _ensure_timer()


def release() -> None:
    """Undo one hold(); the last one collects everything here and gives automatic collection back."""
    global _holds
    with _lock:
        if _holds == 0:
            return
        _holds -= 1
        if _holds:
            return
        if _stop is not None:
            _stop()
    if not _suspended:
        collect_due(full=True)
    with _lock:
        _turn_back()


def is_held() -> bool:
    return _holds > 0


@contextlib.contextmanager
def suspended() -> Iterator[None]:
    """No collection at all, on any thread, while this runs; what it made is frozen afterwards
    (`gc.freeze`: later full collections do not walk it again)."""
    global _suspended
    with _lock:
        _turn_off()
        _suspended += 1
    try:
        yield
    finally:
        with _lock:
            # Frozen before collection can come back: otherwise the next allocation starts a full
            # collection of everything the import made (170 ms with the interpreter lock held).
            gc.freeze()
            _suspended -= 1
            _turn_back()


def collect_due(full: bool = False) -> int:
    """Collect the generations that are due by the collector's thresholds (all of them with `full`).
    Only ever called on the GUI thread (by the timer, by release, by tests between tests)."""
    global _collections
    if _suspended:
        return 0
    if full:
        _collections += 1
        return gc.collect()
    t0, t1, t2 = gc.get_threshold()
    c0, c1, c2 = gc.get_count()
    found = 0
    if c0 > t0:
        _collections += 1
        found += gc.collect(0)
        if c1 > t1:
            found += gc.collect(1)
            if c2 > t2:
                found += gc.collect(2)
    return found


def collections_run() -> int:
    return _collections


def set_scheduler(start: Callable[[], None], stop: Callable[[], None]) -> None:
    """How the GUI thread's periodic collect_due is started and stopped (app.run.gc_timer gives a QTimer's);
    this module stays Qt-free, so that Qt-free code (app.state) may suspend collection too."""
    global _start, _stop
    _start, _stop = start, stop
    if _holds:
        _start()


def _ensure_timer() -> None:
    if _start is not None:
        _start()
