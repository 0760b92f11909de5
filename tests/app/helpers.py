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
