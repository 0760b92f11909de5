"""Writing a file so that a failure or a kill never leaves it half written: a temporary file beside it, fsync, os.replace."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Callable
from typing import Any, BinaryIO


def atomic_write(path: Any, write: Callable[[BinaryIO], None]) -> None:
    """`write(f)` into a temporary file in the same folder, flush, fsync, then os.replace (atomic_torch_save's way)."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    base = os.path.basename(path)
    mode = None
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        pass
    while True:
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
        try:
            # 0o666 minus the umask, as a plain open() would give (mkstemp would give 0o600).
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
            break
        except FileExistsError:
            continue
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    _fsync_folder(folder)


def atomic_write_text(path: Any, text: str) -> None:
    """`text` as UTF-8 with Unix line ends, written with atomic_write (a script, a CSV)."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def _fsync_folder(folder: str) -> None:
    # Makes the rename itself survive a power cut on POSIX; folders cannot be opened on Windows.
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
