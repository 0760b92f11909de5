"""The temporary files being written right now, removed when the process is told to stop (SIGTERM,
SIGINT) so that a killed save or export leaves nothing behind. Torch-free and Qt-free."""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Iterator

# Reentrant: the signal handler (remove_all) runs in the main thread, possibly while it holds the lock.
_lock = threading.RLock()
_open: set[str] = set()


def remember(path: str) -> None:
    with _lock:
        _open.add(path)


def forget(path: str) -> None:
    with _lock:
        _open.discard(path)


def remove_all() -> None:
    """Remove every temporary file still being written (from a signal handler or at exit)."""
    with _lock:
        paths = list(_open)
        _open.clear()
    for path in paths:
        try:
            os.unlink(path)
        except OSError:
            pass


class Terminated(BaseException):
    """The process was told to stop by a signal; `status` is the conventional exit status (128 + signal)."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.status = 128 + signum
        super().__init__(f"stopped by {signal.Signals(signum).name}")


@contextlib.contextmanager
def terminate_cleanly(signals: tuple[int, ...] = (signal.SIGTERM,)) -> Iterator[None]:
    """Turn these signals into a Terminated exception in the main thread, so every `finally` and
    `except BaseException` runs (temporary files removed) before the process exits with 128 + signal.
    Outside the main thread it does nothing (signals are only delivered there)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        remove_all()
        raise Terminated(signum)

    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)
