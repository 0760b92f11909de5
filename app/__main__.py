"""`python -m app [MODEL_FILE]` (the `torch-playground` command): open the window, optionally with a model file."""

from __future__ import annotations

import argparse
import sys
import threading

from app.about import APP_NAME, app_version


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="torch-playground",
        description=f"{APP_NAME}: train a small PyTorch network by pointing and clicking.",
    )
    p.add_argument("model", nargs="?", metavar="MODEL_FILE", help="a .pt/.pth model file to open at start")
    p.add_argument("--version", action="version", version=f"{APP_NAME} {app_version()}")
    return p


def create_window(argv: list[str] | None = None, restore_session: bool = True, settings=None):
    """Parse the arguments, make the QApplication if needed and build the window (not shown)."""
    args = _parser().parse_args(argv)
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance() or QApplication([sys.argv[0] if sys.argv else "torch-playground"])
    app.setApplicationName("Torch Playground")
    app.setOrganizationName("torch-playground")
    from app.main_window import MainWindow

    window = MainWindow(settings=settings, restore_session=restore_session)
    if args.model:
        window.load_model(args.model)  # a refused file is reported in the window, which still opens
    return app, window


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        app, window = create_window(argv)
    except SystemExit as exc:  # --help, --version, a wrong option
        return int(exc.code or 0)
    window.show()
    # While the person reads the window, pay torch's one-time import for the first run (a daemon
    # thread: it never keeps the app from quitting).
    from app.controller import prepare_torch

    threading.Thread(target=prepare_torch, name="prepare-torch", daemon=True).start()
    return int(app.exec())


if __name__ == "__main__":
    sys.exit(main())
