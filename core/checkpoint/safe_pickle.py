"""The security boundary: open anyone's .pt/.pth without running code from it, and get back the plain object it holds.

Opening is layered so that a hostile file is refused before torch reads it, with a reason a person
understands, and so that no file can run code or cost much more memory than its size on disk:

1. the path: missing, a folder, not a regular file, empty, larger than MAX_FILE_BYTES;
2. a sniff of the first bytes: torch's zip format, torch's legacy pickle format, or something else
   (text, HTML, a Git LFS pointer, safetensors, HDF5, NumPy, gzip, tar, random bytes);
3. the container (containers.py): for a zip, the size of its directory, the total it expands to,
   every member's CRC32 (torch itself does not check them), and torch's own reader must see the same
   members with the same sizes; for the legacy format, every storage block declared in the pickle
   must be physically present in the file; in both, the storages' declared sizes are bounded
   (limits.MAX_TENSOR_BYTES), which counts a sparse file by what it declares;
4. the pickle, read with pickletools and never executed (pickle_scan.py): every global it names must
   be on a short allowlist of tensor-rebuilding functions and storage types, and the memory its
   objects would take is estimated and bounded;
5. only then `torch.load(f, weights_only=True, map_location="cpu")`.

This module knows nothing of models: what the object means (which keys are an MLP, the app's own
format) is decided by layouts.py and app_format.py, on what `safe_load` returns.
"""

from __future__ import annotations

import pickle
import re
from dataclasses import dataclass
from typing import Any, BinaryIO

import torch

from core.checkpoint.containers import EMPTY_ZIP_MAGIC, ZIP_MAGIC, check_legacy, check_zip
from core.checkpoint.pickle_scan import Scan, judge_pickle
from core.checkpoint.reasons import Refused, first_line, open_model_path


@dataclass(frozen=True, eq=False)
class SafeLoad:
    """What torch.load gave for a file that passed every check, and what a person should know about the file."""

    obj: Any  # plain containers, numbers, text and dense or special tensors, all on the cpu; nothing else
    warnings: tuple[str, ...]  # e.g. that it was saved without checksums


def safe_load(path: str) -> SafeLoad:
    """Check the file at `path` layer by layer and load it with torch's weights-only unpickler.

    Raises Refused with a reason a person understands; may raise MemoryError or, for a file no check
    foresaw, another exception (the caller turns both into a refusal).
    """
    f, size = open_model_path(path)
    with f:
        return safe_load_from(f, size)


def safe_load_from(f: BinaryIO, size: int) -> SafeLoad:
    """safe_load on a handle open_model_path gave (`size` is what it found): every layer reads this one
    handle, so the bytes checked are the bytes torch loads."""
    f.seek(0)
    head = f.read(512)
    kind = _sniff(head, size)
    scan = check_zip(f, size) if kind == "zip" else check_legacy(f, size)
    judge_pickle(scan)
    f.seek(0)
    obj = _torch_load(f, scan)
    warnings = []
    if scan.unrecorded_crcs:
        warnings.append("it was saved without checksums, so damage to its contents cannot be detected")
    return SafeLoad(obj, tuple(warnings))


# --- sniffing ----------------------------------------------------------------------------------


def _sniff(head: bytes, size: int) -> str:
    """'zip' or 'legacy' for torch's two formats; otherwise refuse, saying what the file looks like."""
    if head.startswith(ZIP_MAGIC):
        return "zip"
    if head.startswith(EMPTY_ZIP_MAGIC):
        raise Refused("it is an empty zip archive, not a PyTorch model file")
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "legacy"
    if head.startswith(b"version https://git-lfs"):
        raise Refused("it is a Git LFS pointer, not the model itself; fetch the real file with `git lfs pull`")
    if head.startswith(b"\x89HDF"):
        raise Refused("it is an HDF5 file (such as a Keras .h5 model), not a PyTorch model file")
    if head.startswith(b"\x93NUMPY"):
        raise Refused("it is a NumPy .npy array file, not a PyTorch model file")
    if head.startswith(b"\x1f\x8b"):
        raise Refused("it is gzip-compressed; decompress it first (PyTorch model files are not gzipped)")
    if len(head) >= 262 and head[257:262] == b"ustar":
        raise Refused("it is a tar archive (the format of PyTorch before 0.4), which cannot be opened safely; re-save it")
    if len(head) >= 10 and head[8:10] in (b'{"', b"{'"):
        n = int.from_bytes(head[:8], "little")
        if 0 < n < size:
            raise Refused("it is a safetensors file; this app opens PyTorch .pt/.pth files")
    if _looks_like_text(head):
        stripped = head.lstrip()
        if stripped[:1] == b"<":
            raise Refused("it is a web page or other markup text (HTML/XML), not a PyTorch model file")
        if stripped[:1] in (b"{", b"["):
            raise Refused("it is a JSON text file, not a PyTorch model file")
        raise Refused("it is a text file, not a PyTorch model file")
    raise Refused("it is not a PyTorch model file: its contents match no format this app knows")


def _looks_like_text(head: bytes) -> bool:
    if not head or b"\x00" in head:
        return False
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 3:  # not just a character cut at the end of the sample
            return False
        text = head[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t\f" for ch in text)
    return printable >= 0.95 * max(len(text), 1)


# --- torch.load ---------------------------------------------------------------------------------


def _torch_load(f: BinaryIO, scan: Scan) -> Any:
    try:
        # torch's own gate against code; the allowlist scan above is a second, stricter one that also bounds memory.
        return torch.load(f, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Unsupported operand" in text and scan.protocol > 2:
            raise Refused(
                f"it was saved with pickle protocol {scan.protocol}, which the safe loader cannot read; "
                "re-save it with torch.save's default protocol"
            ) from None
        found = re.search(r"GLOBAL ([\w.]+)", text)
        detail = f" ({found.group(1)})" if found else ""
        raise Refused(
            f"it contains objects that are not plain weights{detail}; the safe loader refused it and nothing in it was run"
        ) from None
    except MemoryError:
        raise
    except Exception as exc:
        raise Refused(f"it is damaged or not a valid PyTorch file (torch says: {first_line(exc)})") from None
