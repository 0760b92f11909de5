"""What Help > About says: versions of the app and its libraries, and the devices this machine offers."""

from __future__ import annotations

import platform
from collections.abc import Sequence
from importlib import metadata

import numpy as np
import pyqtgraph as pg
import PySide6
from PySide6.QtCore import qVersion

from core.devices import DeviceInfo, list_devices

APP_NAME = "Torch Playground"


def app_version() -> str:
    try:
        return metadata.version("torch-playground")
    except metadata.PackageNotFoundError:
        return "0.1.0 (run from source)"


def about_text(devices: Sequence[DeviceInfo] | None = None) -> str:
    """Plain text, one fact per line, so it reads the same in the dialog, a bug report or a test."""
    import torch  # here, not at the top: the window is built before torch has loaded

    devices = list_devices() if devices is None else devices
    lines = [
        f"{APP_NAME} {app_version()}",
        "Train a small PyTorch network by pointing and clicking: the companion to Appendix A of "
        "Build a Large Language Model (From Scratch).",
        "",
        f"PyTorch {torch.__version__}",
        f"Qt {qVersion()} (PySide6 {PySide6.__version__})",
        f"pyqtgraph {pg.__version__}, NumPy {np.__version__}",
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}",
        "",
        "Devices on this machine:",
    ]
    for d in devices:
        lines.append(f"  {d.label}: available" if d.available else f"  {d.label}: not available ({d.reason})")
    return "\n".join(lines)
