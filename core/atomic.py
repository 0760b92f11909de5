"""Writing a file so that a failure or a kill never leaves it half written: a temporary file beside it, fsync, os.replace."""

from __future__ import annotations

import errno
import io
import os
import secrets
import stat
from collections.abc import Callable
from typing import Any, BinaryIO

from core.errors import PathError
from core.paths import check_write, os_words
from core.temp_files import forget, remember


def atomic_write(path: Any, write: Callable[[BinaryIO], None], *, action: str = "write") -> None:
    """`write(f)` into a temporary file in the same folder, flush, fsync, then os.replace (atomic_torch_save's way).

    The target goes through core.paths.check_write first (regular files only, a symlink written
    through). Any OSError on the way (the disk filling up, a folder made read-only), including one
    raised inside a writer that hides it (torch.save turns it into a RuntimeError), comes out as a
    PathError naming the path and the cause; the temporary file is removed on every failure, and on
    SIGTERM/SIGINT by core.temp_files.
    """
    name = os.fspath(path)
    target = check_write(name, action=action)
    folder = os.path.dirname(os.path.abspath(target))
    base = os.path.basename(target)
    mode = None
    try:
        mode = stat.S_IMODE(os.stat(target).st_mode)
    except OSError:
        pass
    fd, tmp = _create_remembered(folder, base, name, action)
    recorder = _Recording(os.fdopen(fd, "wb"))
    try:
        with recorder:
            write(recorder)
            recorder.flush()
            os.fsync(recorder.fileno())
        if mode is not None:
            os.chmod(tmp, mode)
        os.replace(tmp, target)
    except BaseException as exc:
        _unlink(tmp)
        # A signal's exception (SIGTERM's Terminated, Ctrl+C) raised inside torch.save's write comes out of
        # torch as "[enforce fail at inline_container.cc]": the stop is what the caller must see.
        stop = recorder.stop if recorder.stop is not None else None if isinstance(exc, Exception) else exc
        if stop is not None and stop is not exc:
            raise stop from None
        if stop is not None:
            raise
        cause = recorder.error if recorder.error is not None else exc if isinstance(exc, OSError) else None
        if cause is not None and not isinstance(cause, PathError):
            words = os_words(cause)
            if cause.errno in (errno.ENOSPC, errno.EDQUOT):
                words += f" while writing {os.path.basename(name)}"
            raise PathError(name, words, action=action) from None
        raise
    finally:
        forget(tmp)
    _fsync_folder(folder)


def _create_remembered(folder: str, base: str, name: str, action: str) -> tuple[int, str]:
    while True:
        tmp = os.path.join(folder, f".{base}.{secrets.token_hex(6)}.tmp")
        # Registered before it exists: a signal between making the file and registering it left it behind.
        remember(tmp)
        try:
            # 0o666 minus the umask, as a plain open() would give (mkstemp would give 0o600).
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), tmp
        except FileExistsError:
            forget(tmp)  # someone else's file: never removed on our stop
        except OSError as exc:
            forget(tmp)
            raise PathError(name, os_words(exc), action=action) from None


def atomic_write_text(path: Any, text: str, *, action: str = "write") -> None:
    """`text` as UTF-8 with Unix line ends, written with atomic_write (a script, a CSV)."""
    atomic_write(path, lambda f: f.write(text.encode("utf-8")), action=action)


class _Recording(io.RawIOBase):
    """A binary file that remembers the first OSError its writes met, so that a writer which turns
    it into something else (torch.save's "[enforce fail at inline_container.cc]") still gets a plain
    reason; and the first signal's exception (Terminated, KeyboardInterrupt), which torch turns into the same."""

    def __init__(self, f: BinaryIO) -> None:
        super().__init__()
        self._f = f
        self.error: OSError | None = None
        self.stop: BaseException | None = None  # a signal's exception met inside a write

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:
        try:
            return self._f.write(data)
        except OSError as exc:
            if self.error is None:
                self.error = exc
            raise
        except BaseException as exc:
            if not isinstance(exc, Exception) and self.stop is None:
                self.stop = exc
            raise

    def flush(self) -> None:
        if self._f.closed:
            return
        try:
            self._f.flush()
        except OSError as exc:
            if self.error is None:
                self.error = exc
            raise

    def fileno(self) -> int:
        return self._f.fileno()

    def seekable(self) -> bool:
        return self._f.seekable()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def tell(self) -> int:
        return self._f.tell()

    def close(self) -> None:
        try:
            self._f.close()
        except OSError as exc:
            if self.error is None:
                self.error = exc
            raise
        finally:
            super().close()


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


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
