"""How a refusal is worded: the internal Refused exception and the helpers that describe values, sizes and errors."""

from __future__ import annotations

import errno
import os
from typing import Any, BinaryIO

import torch

import core.checkpoint.limits as limits
from core.errors import PathError
from core.paths import identity as file_identity
from core.paths import open_read


class Refused(Exception):
    """Internal: a reason to refuse a file; load_model_file adds the file's name (ModelFileError)."""


def describe(value: Any) -> str:
    """'a list', 'a tensor of shape (3, 4)', ... without repr(), which a hostile structure could make huge."""
    if value is None:
        return "nothing (None)"
    if isinstance(value, torch.Tensor):
        return f"a single tensor of shape {tuple(value.shape)}"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def key_text(key: Any) -> str:
    """A dict key as a person reads it, cut short: a hostile file may use megabyte-long names."""
    if isinstance(key, str):
        return repr(key if len(key) <= 60 else key[:57] + "...")
    return f"<{type(key).__name__} key>"


def first_names(found: list[str]) -> str:
    """The first three of a list of names, and how many more."""
    shown = ", ".join(found[:3])
    return shown + (f" and {len(found) - 3} more" if len(found) > 3 else "")


def mb(n: int) -> str:
    if n >= 1024**3:
        return f"{n / 1024**3:.1f} GB"
    if n >= 1024**2:
        return f"{n / 1024**2:.0f} MB"
    return f"{max(n // 1024, 1)} KB" if n >= 1024 else f"{n} bytes"


def first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 160 else line[:157] + "..."


def os_reason(exc: OSError) -> str:
    """Why a file cannot be read or written, in a person's words."""
    if isinstance(exc, PathError):  # already in words (core.paths)
        return exc.reason
    reasons = {
        errno.ENOENT: "its folder does not exist",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOSPC: "the disk is full",
        errno.EISDIR: "it is a folder",
        errno.EROFS: "the disk is read-only",
    }
    return reasons.get(exc.errno, (exc.strerror or str(exc) or type(exc).__name__).lower())


def open_model_path(path: str) -> tuple[BinaryIO, int]:
    """Open the file at `path` for reading after the checks every model file gets, whatever its format:
    it exists, is a regular file (a FIFO or a device would block or never end), is not empty and not
    larger than limits.MAX_FILE_BYTES. Returns the open handle and its size; raises Refused saying what is wrong."""
    try:
        f, size = open_read(path, action="open")  # the one door: regular files only, a FIFO never blocks
    except PathError as exc:
        raise Refused(exc.reason) from None
    if size == 0 or size > limits.MAX_FILE_BYTES:
        f.close()
        if size == 0:
            raise Refused("it is empty (0 bytes)")
        raise Refused(f"it is {mb(size)}, larger than the {mb(limits.MAX_FILE_BYTES)} this app opens; an MLP's weights are far smaller")
    return f, size


CHANGED = "it changed while it was being read (another program is writing it?); nothing of it was used, try again when it is complete"


def identity(f: BinaryIO) -> tuple[int, ...]:
    """What tells a file's contents changed between two looks at one open handle (core.paths.identity)."""
    return file_identity(os.fstat(f.fileno()))


def check_tensor_bytes(declared: int) -> None:
    """Refuse a file whose tensors, as declared, would take more than limits.MAX_TENSOR_BYTES once read."""
    if declared > limits.MAX_TENSOR_BYTES:
        raise Refused(
            f"its tensors declare {mb(declared)} of values (as float32), more than the {mb(limits.MAX_TENSOR_BYTES)} "
            "this app reads; an MLP this app trains is far smaller"
        )
