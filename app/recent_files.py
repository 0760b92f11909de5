"""The Recent Models list: kept in the app's QSettings, newest first, shown as a menu."""

from __future__ import annotations

import json
import os
from collections.abc import Callable

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMenu

MAX_RECENT = 8
_KEY = "recentFiles"


class RecentFiles:
    """The recent files of `settings`, and the menu that opens them through `open_file(path)`."""

    def __init__(self, settings: QSettings, menu: QMenu, open_file: Callable[[str], object]):
        self.settings = settings
        self.menu = menu
        self._open = open_file
        self._rebuild()

    def files(self) -> list[str]:
        raw = self.settings.value(_KEY, "[]")
        try:
            files = json.loads(raw) if isinstance(raw, str) else list(raw or [])
        except (json.JSONDecodeError, TypeError):
            files = []
        return [f for f in files if isinstance(f, str)][:MAX_RECENT]

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
            a = menu.addAction(f"&{i + 1} {os.path.basename(f)}")
            a.setToolTip(f)
            a.setStatusTip(f)
            a.triggered.connect(lambda _=False, p=f: self._open(p))
