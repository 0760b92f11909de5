"""The engine's error types, in a module without torch: the window imports them (to tell a person's
mistake from a bug) before torch is loaded. Each is re-exported by the module that raises it."""

from __future__ import annotations

import os
from typing import Any


class DataError(ValueError):
    """The data cannot be made or read; the message says why, naming the file, row and column where it can."""


class DeviceError(ValueError):
    """The asked-for device cannot be used here."""


class ArchitectureError(ValueError):
    """The weights are not those of an MLP this app can build."""


class TrainingError(ValueError):
    """The run cannot start (or go on) as configured; the message says why and what to change."""


class ModelFileError(Exception):
    """A model file cannot be opened or saved; str() says what is wrong with which file.

    `ModelFileError(path, reason)` reads "cannot open PATH: REASON"; `ModelFileError(message)` is
    taken as the whole sentence. `.path` and `.reason` keep the parts.
    """

    def __init__(self, path: Any, reason: str | None = None, *, action: str = "open") -> None:
        if reason is None:
            self.path, self.reason = None, str(path)
            super().__init__(self.reason)
            return
        self.path = os.fsdecode(path)
        self.reason = reason
        super().__init__(f"cannot {action} {self.path}: {reason}")


class Cancelled(Exception):
    """Work was asked to stop (a stop button, a closing window, newer settings) and ended without a result."""


class PathError(OSError):
    """A path the app reads or writes is refused before any work (see core.paths): str() is
    "cannot ACTION PATH: REASON", the path cut when absurdly long. An OSError, so that code catching
    the file's OSErrors catches this too."""

    def __init__(self, path: Any, reason: str, *, action: str = "read") -> None:
        self.path = os.fsdecode(os.fspath(path)) if isinstance(path, (str, bytes, os.PathLike)) else str(path)
        self.reason = reason
        self.action = action
        super().__init__(f"cannot {action} {shown(self.path)}: {reason}")

    def __str__(self) -> str:
        return self.args[0]


# A path echoed in a message is cut to this many characters (a 50 MB "path" must not fill the terminal).
MAX_SHOWN_PATH = 300


def shown(path: Any) -> str:
    """The path as a person reads it in a message, cut when it is absurdly long."""
    try:
        text = os.fsdecode(os.fspath(path))
    except TypeError:
        text = str(path)
    return text if len(text) <= MAX_SHOWN_PATH else text[: MAX_SHOWN_PATH - 3] + "..."


# The errors a person can fix (a setting, a file, the data): shown as their message, without a type name or a
# traceback. Every config, data, device, training, architecture and file error subclasses ValueError or
# OSError; ModelFileError is named since it subclasses neither. The window's run, its tasks and its messages
# read this one list.
FIXABLE_ERRORS: tuple[type[BaseException], ...] = (ValueError, OSError, ModelFileError)
