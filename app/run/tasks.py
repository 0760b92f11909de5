"""Model-sized work (open, vet and bind a file, preview data, evaluate, save) on plain threads, reported back on a GUI timer.

The work is a plain function `fn(cancel) -> result` that knows no Qt (Orange's way): it runs on a
Python thread, checks the `cancel` event where it can, and leaves its result or exception in a
`Task`. A timer in the GUI thread sees the task end and calls its `on_done(result)` or
`on_error(exc)` there. No Qt call is ever made from the worker thread (see app/controller.py for why).
"""

from __future__ import annotations

import atexit
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEventLoop, QObject, QTimer, Signal

from app.run import gc_timer
from core.errors import FIXABLE_ERRORS, Cancelled

# How often the GUI looks for finished tasks: a person does not notice 15 ms.
POLL_MS = 15
# A task still going after this long gets the busy indicator (shorter ones would only flicker it).
BUSY_AFTER_MS = 150

_LIVE: set[Task] = set()


class TookTooLong(TimeoutError):
    """A task ran past its deadline: it was told to stop and its outcome is dropped."""


class _Outcome:
    """What the worker thread leaves: only this and `fn` are referenced from that thread.

    The Task (with its callbacks, which hold widgets) stays with the GUI thread: a widget whose last
    reference a worker dropped would be destroyed in that thread, and Qt's destructor locks against the
    interpreter lock held by the GUI thread (a deadlock seen in the test suite)."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.result: Any = None
        self.error: BaseException | None = None


def _work(fn: Callable[[threading.Event], Any], cancel: threading.Event, out: _Outcome) -> None:
    try:
        out.result = fn(cancel)
    except BaseException as exc:  # noqa: BLE001 - every outcome is handed to the GUI thread
        out.error = exc
        if not isinstance(exc, (Cancelled, MemoryError, *FIXABLE_ERRORS)):
            traceback.print_exc()
    finally:
        out.done.set()


class Task:
    """One piece of work on its own thread: its cancel event, and its result or error once `done` is set."""

    def __init__(self, fn: Callable[[threading.Event], Any], label: str, kind: str):
        self.label = label  # shown while it is busy, e.g. "Opening model.pt…"
        self.kind = kind  # a newer task of the same kind cancels this one ("preview", "open", ...)
        self.cancel = threading.Event()
        self._out = _Outcome()
        self.done = self._out.done
        self.on_done: Callable[[Any], None] | None = None
        self.on_error: Callable[[BaseException], None] | None = None
        self.deadline: float | None = None  # time.monotonic() after which the task is given up
        self.started = time.monotonic()
        # Kept here too, so the last reference to the work (and whatever it holds) goes in the GUI thread.
        # A daemon thread: a task stuck in a read (a slow network disk) must not keep the process alive
        # once the window has closed; the app waits a moment for tasks at exit, then leaves (app.__main__).
        self._fn = fn
        self.thread = threading.Thread(target=_work, args=(fn, self.cancel, self._out), name=f"task-{kind}", daemon=True)

    @property
    def result(self) -> Any:
        return self._out.result

    @property
    def error(self) -> BaseException | None:
        return self._out.error

    def run_here(self) -> None:
        """Do the work in the calling thread (tiny work; see TaskRunner.submit's `inline`)."""
        _work(self._fn, self.cancel, self._out)

    def wait(self, timeout: float | None = None) -> bool:
        return self.done.wait(timeout)


def cancel_all(timeout: float = 5.0) -> bool:
    """Cancel every task still going and wait for their threads (at exit), `timeout` seconds for all of
    them together. True when none is left running."""
    deadline = time.monotonic() + timeout
    for task in list(_LIVE):
        task.cancel.set()
    for task in list(_LIVE):
        task.thread.join(max(0.0, deadline - time.monotonic()))
        if not task.thread.is_alive():
            _LIVE.discard(task)
    return not _LIVE


atexit.register(cancel_all)


class TaskRunner(QObject):
    """Starts tasks and hands their outcomes to the GUI thread.

    `busyChanged(bool, str)` says when some task has been running for more than BUSY_AFTER_MS (and
    its label), and when none is left.
    """

    busyChanged = Signal(bool, str)
    changed = Signal()  # a task started, ended or was given up: running() changed

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._tasks: list[Task] = []
        self._abandoned: list[Task] = []  # given up at their deadline, their threads still going
        self._busy = False
        self._timer = QTimer(self)
        self._timer.setInterval(POLL_MS)
        self._timer.timeout.connect(self._poll)
        self._busy_timer = QTimer(self)
        self._busy_timer.setSingleShot(True)
        self._busy_timer.setInterval(BUSY_AFTER_MS)
        self._busy_timer.timeout.connect(self._show_busy)

    def submit(self, fn: Callable[[threading.Event], Any], *, kind: str, label: str = "",
               on_done: Callable[[Any], None] | None = None,
               on_error: Callable[[BaseException], None] | None = None, inline: bool = False,
               deadline_s: float | None = None) -> Task:
        """Run `fn(cancel)` on a new thread; a running task of the same `kind` is cancelled (its outcome dropped).

        `deadline_s`: a task still going after that long is cancelled and reported to `on_error` as
        TookTooLong (its thread, a daemon, may finish later; its outcome is dropped), so no file that
        reads forever can hold the window (opening, binding).

        `inline` runs it at once in this thread instead, callbacks included: for work known to be tiny
        (the book's 7 points), where a thread would only add a frame of delay."""
        self.cancel(kind)
        task = Task(fn, label, kind)
        task.on_done, task.on_error = on_done, on_error
        if deadline_s is not None:
            task.deadline = time.monotonic() + deadline_s
        if inline:
            task.run_here()
            self._report(task)
            return task
        self._tasks.append(task)
        _LIVE.add(task)
        gc_timer.hold()  # no collection on the task's thread (see app.run.gc_guard); released when it ends
        task.thread.start()
        self.changed.emit()
        self._timer.start()
        if not self._busy and not self._busy_timer.isActive():
            self._busy_timer.start()
        return task

    def cancel(self, kind: str | None = None) -> None:
        """Cancel the tasks of `kind` (all when None) without waiting; their outcomes are dropped."""
        for task in self._tasks:
            if kind is None or task.kind == kind:
                task.cancel.set()

    def running(self, kind: str | None = None) -> bool:
        return any(kind is None or t.kind == kind for t in self._tasks if not t.cancel.is_set())

    def wait(self, task: Task, timeout_ms: int = 600_000) -> bool:
        """Wait for `task` and its callbacks with the event loop running (what load_model(path) -> bool needs)."""
        if task not in self._tasks:
            return True
        loop = QEventLoop()
        poll = QTimer()
        poll.setInterval(POLL_MS)
        poll.timeout.connect(lambda: task not in self._tasks and loop.quit())
        limit = QTimer()
        limit.setSingleShot(True)
        limit.timeout.connect(loop.quit)
        poll.start()
        limit.start(timeout_ms)
        loop.exec()
        poll.stop()
        limit.stop()
        return task not in self._tasks

    def wait_ok(self, task: Task | None) -> bool:
        """`wait` for the task, then whether it ended without an error (None: it was refused before it began)."""
        if task is None:
            return False
        self.wait(task)
        return task.done.is_set() and task.error is None and not task.cancel.is_set()

    def shutdown(self, timeout: float = 5.0) -> None:
        """Cancel everything and wait for the threads; no callback runs afterwards."""
        self._timer.stop()
        self._busy_timer.stop()
        tasks, self._tasks = self._tasks, []
        for t in tasks:
            t.cancel.set()
        for t in tasks:
            t.thread.join(timeout)
            if not t.thread.is_alive():  # one still going stays referenced here until it ends (see _Outcome)
                _LIVE.discard(t)
                gc_timer.release()  # a thread still going keeps its hold: it may still allocate

    def _poll(self) -> None:
        now = time.monotonic()
        given_up = [t for t in self._tasks if t.deadline is not None and now > t.deadline and not t.done.is_set()]
        for task in given_up:
            self._give_up(task)
        for task in [t for t in self._abandoned if t.done.is_set()]:
            self._abandoned.remove(task)
            _LIVE.discard(task)
            gc_timer.release()
        finished = [t for t in self._tasks if t.done.is_set()]
        for task in finished:
            self._tasks.remove(task)
            _LIVE.discard(task)
            task.thread.join()
            gc_timer.release()
            self._report(task)
        if not self._tasks:
            self._busy_timer.stop()
            if self._busy:
                self._busy = False
                self.busyChanged.emit(False, "")
            if not self._abandoned:
                self._timer.stop()
        if finished or given_up:
            self.changed.emit()

    def _give_up(self, task: Task) -> None:
        """Past its deadline: cancelled, reported as TookTooLong, its thread left to end on its own."""
        self._tasks.remove(task)
        self._abandoned.append(task)  # its gc hold goes when its thread ends
        limit = task.deadline - task.started if task.deadline is not None else 0.0
        task.cancel.set()
        if task.on_error is not None:
            what = task.label.rstrip("…. ") or "the work"
            task.on_error(TookTooLong(f"{what} took longer than {limit:.0f} s and was stopped"))

    @staticmethod
    def _report(task: Task) -> None:
        if task.cancel.is_set() or isinstance(task.error, Cancelled):
            return
        if task.error is not None:
            if task.on_error is not None:
                task.on_error(task.error)
        elif task.on_done is not None:
            task.on_done(task.result)

    def _show_busy(self) -> None:
        live = [t for t in self._tasks if not t.cancel.is_set()]
        if live:
            self._busy = True
            self.busyChanged.emit(True, live[-1].label)
