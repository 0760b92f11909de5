"""One door for every path the app reads or writes: regular files only, checked before any work, named in every message.

Reads: the path (symlinks followed) must be a regular file; it is opened with O_NONBLOCK so that a
FIFO swapped in after the check cannot block, and checked again on the open handle (the file checked
is the file read). Writes: a symlink is written through (its target is replaced, the link stays);
anything at the target that is not a regular file (a device, a FIFO, a folder, a socket) is refused,
never replaced; the folder must exist and take a new file (a probe file is created and removed, which
catches permissions, read-only disks and quotas alike); and there must be room for what is known of
the size. Torch-free: the window calls it before torch has loaded.
"""

from __future__ import annotations

import errno
import os
import secrets
import stat
from typing import Any, BinaryIO

from core.errors import PathError, shown

__all__ = ["PathError", "check_read", "check_write", "describe_mode", "identity", "open_read", "os_words", "shown", "write_target"]

def describe_mode(mode: int) -> str:
    """What a file of this st_mode is, in a person's words ("a named pipe (FIFO)")."""
    if stat.S_ISDIR(mode):
        return "a folder"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode):
        return "a character device"
    if stat.S_ISBLK(mode):
        return "a block device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    if stat.S_ISREG(mode):
        return "a regular file"
    return "not a regular file"


_OS_WORDS = {
    errno.ENOENT: "there is no such file",
    errno.ENOTDIR: "a part of the path is not a folder",
    errno.EACCES: "permission denied",
    errno.EPERM: "permission denied",
    errno.ENOSPC: "the disk is full",
    errno.EDQUOT: "the disk quota is used up",
    errno.EISDIR: "it is a folder",
    errno.EROFS: "the disk is read-only",
    errno.ENAMETOOLONG: "the name is too long",
    errno.ELOOP: "it is a loop of symbolic links",
    errno.EFBIG: "the file would be too large for this disk",
    errno.EIO: "the disk reported an input/output error",
    errno.ENXIO: "it is not a file that can be opened (a socket or a device without a driver)",
}


def os_words(exc: OSError) -> str:
    """Why a file cannot be read or written, in plain words (no errno, no internal text)."""
    words = _OS_WORDS.get(exc.errno or 0)
    if words:
        return words
    return (exc.strerror or type(exc).__name__).lower()


def identity(st: os.stat_result) -> tuple[int, ...]:
    """What tells a file's contents changed between two looks: a write moves the size or mtime, a truncate,
    chmod or rename moves the ctime (mtime can be set back; ctime cannot), a replacement the inode."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def open_read(path: Any, *, action: str = "read") -> tuple[BinaryIO, int]:
    """Open a regular file for reading: returns the handle (blocking reads) and its size.

    Raises PathError, naming the path and what it is, for anything else: a FIFO (which would block
    forever), a device (/dev/zero never ends, /dev/stdin waits for a terminal), a folder, a socket.
    """
    name = os.fspath(path)
    try:
        st = os.stat(name)
    except OSError as exc:
        raise PathError(name, os_words(exc), action=action) from None
    if not stat.S_ISREG(st.st_mode):
        raise PathError(name, f"it is {describe_mode(st.st_mode)}, not a regular file", action=action)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(name, flags)
    except OSError as exc:
        raise PathError(name, os_words(exc), action=action) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):  # swapped after the check: refuse what was opened
            raise PathError(name, f"it is {describe_mode(st.st_mode)}, not a regular file", action=action)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb"), st.st_size
    except BaseException:
        os.close(fd)
        raise


def check_read(path: Any, *, action: str = "read") -> int:
    """The checks of open_read without keeping the file open; returns its size."""
    f, size = open_read(path, action=action)
    f.close()
    return size


def write_target(path: Any, *, action: str = "write") -> str:
    """The file a write of `path` replaces: a symlink's target (the link is written through, never
    replaced); refused with PathError when what is there is not a regular file."""
    name = os.fspath(path)
    if name == "":
        raise PathError(name, "the path is empty", action=action)
    target = os.path.realpath(name) if os.path.islink(name) else name
    try:
        st = os.stat(target)
    except FileNotFoundError:
        return target
    except OSError as exc:
        raise PathError(name, os_words(exc), action=action) from None
    if not stat.S_ISREG(st.st_mode):
        raise PathError(name, f"it is {describe_mode(st.st_mode)}, not a regular file; nothing was written there", action=action)
    return target


def check_write(path: Any, *, action: str = "write", need_bytes: int = 0) -> str:
    """Check before any work that `path` can be written: returns the file a write replaces (see
    write_target). Its folder must exist, take a new file (a probe file is made and removed) and have
    room for `need_bytes`. Raises PathError naming the path and the cause."""
    name = os.fspath(path)
    target = write_target(name, action=action)
    folder = os.path.dirname(os.path.abspath(target))
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        raise PathError(name, f"its folder {shown(folder)} does not exist", action=action) from None
    except OSError as exc:
        raise PathError(name, os_words(exc), action=action) from None
    if not stat.S_ISDIR(st.st_mode):
        raise PathError(name, f"{shown(folder)} is not a folder", action=action)
    probe = os.path.join(folder, f".{os.path.basename(target)}.{secrets.token_hex(4)}.probe")
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        words = os_words(exc)
        if exc.errno not in (errno.EROFS, errno.ENOSPC, errno.EDQUOT):
            words = f"the folder {shown(folder)} does not take a new file ({words})"
        raise PathError(name, words, action=action) from None
    os.close(fd)
    os.unlink(probe)
    if need_bytes > 0 and hasattr(os, "statvfs"):
        vfs = os.statvfs(folder)
        free = vfs.f_bavail * vfs.f_frsize
        if free < need_bytes:
            raise PathError(name, f"the disk is full: {_size(free)} free, about {_size(need_bytes)} needed", action=action)
    return target


def _size(n: int) -> str:
    for unit, scale in (("GB", 1024**3), ("MB", 1024**2), ("KB", 1024)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
