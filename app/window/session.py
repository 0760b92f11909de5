"""The window's session: where its settings live, and the geometry and settings it restores at start."""

from __future__ import annotations

import json
import os
import tempfile

from PySide6.QtCore import QByteArray, QSettings
from PySide6.QtWidgets import QMainWindow

from core.config import salvage_config
from core.errors import PathError
from core.paths import check_read, write_target

SETTINGS_ENV = "TORCH_PLAYGROUND_SETTINGS"  # an .ini path; tests and portable installs point it elsewhere
# A saved config is a few hundred characters; a settings file holding megabytes there is not ours.
MAX_SAVED_CONFIG_CHARS = 100_000


def make_settings(settings: QSettings | str | os.PathLike | None = None) -> QSettings:
    """The QSettings to use: the given one, an .ini path, $TORCH_PLAYGROUND_SETTINGS, or the user's."""
    return open_settings(settings)[0]


def open_settings(settings: QSettings | str | os.PathLike | None = None) -> tuple[QSettings, str]:
    """make_settings, and what is wrong with the settings file named ("" when nothing). A path that is no
    regular file (a FIFO would block the window's start, a device would never end) goes through the one
    door (core.paths) and is refused: the window then keeps its settings for this session only."""
    if isinstance(settings, QSettings):
        return settings, ""
    path = settings if settings is not None else os.environ.get(SETTINGS_ENV)
    if not path:
        return QSettings(QSettings.Format.IniFormat, QSettings.Scope.UserScope, "torch-playground", "torch-playground"), ""
    path = os.fspath(path)
    try:
        if os.path.lexists(path):
            check_read(path, action="use the settings file")
        path = write_target(path, action="use the settings file")
    except PathError as exc:
        spare = os.path.join(tempfile.mkdtemp(prefix="torch-playground-settings-"), "settings.ini")
        text = str(exc)
        return QSettings(spare, QSettings.Format.IniFormat), f"{text[:1].upper()}{text[1:]}; the settings are kept for this session only."
    return QSettings(path, QSettings.Format.IniFormat), ""


def restore_session(window: QMainWindow, settings: QSettings, config_panel, torch_ready: bool) -> tuple[str | None, str]:
    """The last geometry and settings back in the window: (a device to choose once the real device list is
    known, or None; a note on what could not be restored, said once, or "")."""
    geometry = settings.value("geometry")
    if isinstance(geometry, (QByteArray, bytes)):
        window.restoreGeometry(geometry)
    text = settings.value("lastConfig")
    if text is None:
        return None, ""
    # An old, hand-edited or damaged value: what is valid is kept, the rest takes the book's defaults.
    try:
        data = json.loads(text) if isinstance(text, str) and len(text) <= MAX_SAVED_CONFIG_CHARS else None
    except ValueError:
        data = None
    cfg, dropped = salvage_config(data)
    pending = cfg.device if not torch_ready and config_panel.device_combo.findData(cfg.device) < 0 else None
    config_panel.set_config(cfg)
    if not dropped:
        return pending, ""
    shown = ", ".join(dropped[:6]) + (f" and {len(dropped) - 6} more" if len(dropped) > 6 else "")
    return pending, f"The saved settings could not all be read; these start from the defaults: {shown}."
