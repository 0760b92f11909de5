"""`python -m app [MODEL_FILE]` (the `torch-playground` command): open the window, optionally with a model file.

The window is shown before torch is imported (importing torch is most of the start-up time): torch
loads on a thread behind it, then the window gets the real device list and its data preview, and
the file given, if any, is opened.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable

from app.window.about import APP_NAME, app_version

# How often the window looks whether torch has finished loading (the loading thread makes no Qt call).
TORCH_POLL_MS = 25
# After the window closes, how long the process waits for its run and workers before it leaves anyway
# (a training loop stops within a batch; the bound for the whole exit is 3 s).
EXIT_WAIT_S = 2.0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torch-playground",
        description=f"{APP_NAME}: train a small PyTorch network by pointing and clicking.",
    )
    p.add_argument("model", nargs="?", metavar="MODEL_FILE", help="a .pt/.pth model file to open at start")
    p.add_argument("--version", action="version", version=f"{APP_NAME} {app_version()}")
    return p


def _application():
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "torch-playground"])
    app.setApplicationName("Torch Playground")
    app.setOrganizationName("torch-playground")
    return app


def create_window(argv: list[str] | None = None, restore_session: bool = True, settings=None):
    """Parse the arguments, make the QApplication if needed and build the whole window (not shown),
    torch included, with the file given opened."""
    args = _parser().parse_args(argv)
    app = _application()
    from app.window.main_window import MainWindow

    window = MainWindow(settings=settings, restore_session=restore_session)
    if args.model:
        window.load_model(args.model)  # a refused file is reported in the window, which still opens
    return app, window


class TorchLoader:
    """Imports torch (and lists the devices) on a daemon thread, then, in the GUI thread, calls
    `window.torch_ready(devices)` and `then()`. The thread never touches Qt: a timer looks for its end.
    After that it pays torch's one-time import for the first run (see prepare_torch).

    It starts once the window has been painted: an import holds the interpreter lock most of the
    time, and would otherwise slow the window's first paint down by half."""

    def __init__(self, window, then: Callable[[], None] | None = None):
        from PySide6.QtCore import QTimer

        self.window = window
        self.then = then
        self.done = threading.Event()
        self.devices = None
        self.error: str | None = None
        self.timer = QTimer(window)
        self.timer.setInterval(TORCH_POLL_MS)
        self.timer.timeout.connect(self._poll)
        window.after_first_paint(self._start)

    def _start(self) -> None:
        self.timer.start()
        threading.Thread(target=self._load, name="load-torch", daemon=True).start()

    def _load(self) -> None:
        try:
            from core.devices import list_devices

            self.devices = list_devices()  # imports torch
            # What the window's first data preview imports, imported here, before the window hears torch is
            # ready: an import of it in the GUI thread while this thread imports torch._dynamo (below) could
            # meet a module half initialised by this one (seen once on a busy machine: no points drawn).
            import app.state.model_outputs  # noqa: F401
            import core.data  # noqa: F401
        except Exception as exc:  # noqa: BLE001 - a broken torch install is reported in the window
            self.error = f"{type(exc).__name__}: {exc}"
        finally:
            self.done.set()
        if self.error is None:
            from app.run.warmup import prepare_torch

            prepare_torch()

    def _poll(self) -> None:
        if not self.done.is_set():
            return
        self.timer.stop()
        if self.error is not None:
            from core.devices import DeviceInfo

            self.window.torch_ready([DeviceInfo("cpu", "cpu", True)])
            self.window.show_error("PyTorch could not be loaded", f"PyTorch could not be loaded, so nothing can train: {self.error}")
            return
        self.window.torch_ready(self.devices)
        if self.then is not None:
            self.then()


def launch(argv: list[str] | None = None, restore_session: bool = True, settings=None):
    """What `torch-playground` does before its event loop: parse the arguments, build the window
    without torch and show it, and start loading torch behind it. Returns (app, window)."""
    args = _parser().parse_args(argv)
    app = _application()
    from app.window.main_window import MainWindow

    window = MainWindow(settings=settings, restore_session=restore_session, torch_later=True)
    window.show()
    opener = (lambda: window.load_model(args.model)) if args.model else None
    window.torch_loader = TorchLoader(window, then=opener)
    return app, window


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        app, _window = launch(argv)
    except SystemExit as exc:  # --help, --version, a wrong option
        return int(exc.code or 0)
    code = int(app.exec())
    return _leave(code)


def _leave(code: int) -> int:
    """The window has closed and told its run and workers to stop: wait for them here, with no window
    left to freeze, at most EXIT_WAIT_S in all. A worker still busy then (a read that cannot be
    interrupted, data being made) must not keep the process alive, nor may Python's exit destroy a
    QThread that still runs (that aborts): the process leaves at once, its output flushed."""
    from app.run.controller import stop_all_runs
    from app.run.tasks import cancel_all

    deadline = time.monotonic() + EXIT_WAIT_S
    runs_done = stop_all_runs(timeout_ms=int(1000 * EXIT_WAIT_S))
    tasks_done = cancel_all(timeout=max(0.1, deadline - time.monotonic()))
    if runs_done and tasks_done:
        return code
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


if __name__ == "__main__":
    sys.exit(main())
