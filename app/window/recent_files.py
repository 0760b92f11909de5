"""The Recent Models list: kept in the app's QSettings, newest first, shown as a menu."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

MAX_RECENT = 8
_KEY = "recentFiles"
MAX_RAW_CHARS = 64 * 1024  # eight paths of up to 4,096 characters, with room to spare
MAX_PATH_CHARS = 4096


def _plausible_path(path: object) -> bool:
    return (isinstance(path, str) and 0 < len(path) <= MAX_PATH_CHARS and os.path.isabs(path)
            and not any(ord(ch) < 32 or ch == "\x7f" for ch in path))


class RecentFiles:
    """The recent files of `settings`, and the menu that opens them through `open_file(path)`."""

    def __init__(self, settings: QSettings, menu: QMenu, open_file: Callable[[str], object]):
        self.settings = settings
        self.menu = menu
        self._open = open_file
        self._rebuild()

    def files(self) -> list[str]:
        """The recent files, newest first; whatever in the settings is not a plausible path is left out
        (a damaged or hostile settings file: huge values, control characters, non-text entries)."""
        raw = self.settings.value(_KEY, "[]")
        if not isinstance(raw, str) or len(raw) > MAX_RAW_CHARS:
            return []
        try:
            files = json.loads(raw)
        except ValueError:
            return []
        if not isinstance(files, list):
            return []
        return [f for f in files[: 4 * MAX_RECENT] if _plausible_path(f)][:MAX_RECENT]

    def add(self, path: str) -> None:
        path = os.path.abspath(path)
        files = [path] + [f for f in self.files() if f != path]
        self.settings.setValue(_KEY, json.dumps(files[:MAX_RECENT]))
        self.settings.sync()
        self._rebuild()

    def _rebuild(self) -> None:
        menu = self.menu
        menu.clear()
        files = self.files()
        if not files:
            menu.addAction("(none yet)").setEnabled(False)
            return
        for i, f in enumerate(files):
            missing = not os.path.isfile(f)
            a = menu.addAction(f"&{i + 1} {os.path.basename(f)}" + (" (missing)" if missing else ""))
            a.setToolTip(f"{f} is no longer there" if missing else f)
            a.setStatusTip(f)
            a.setEnabled(not missing)
            a.triggered.connect(lambda _=False, p=f: self._open(p))
