"""The .safetensors format (Hugging Face's: a length, a JSON header, raw tensor bytes; no pickle, nothing to run):
its header vetted before the safetensors library reads a byte of it, the tensors read, and the file's bytes built.

Like safe_pickle.py, this module knows nothing of models: load.py decides from `Header.shapes()` whether the
tensors are an MLP before `load_tensors` reads them, so a large file of other weights is refused unread.

A file is `u64 little-endian N`, then N bytes of UTF-8 JSON (an object; `__metadata__` maps text to text, every
other key names a tensor `{"dtype": "F32", "shape": [30, 2], "data_offsets": [BEGIN, END]}` relative to the data
section), then the data section, which the tensors' byte ranges must tile exactly.
"""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import torch

from core.checkpoint.limits import MIN_VALUE_BYTES
from core.checkpoint.reasons import CHANGED, Refused, check_tensor_bytes, first_line, key_text, mb, os_reason

SUFFIX = ".safetensors"
# The library accepts headers up to 100 MB, but parsing one in Python costs several times its size and
# `python -m core inspect` must stay near torch's own ~230 MB. An MLP's header is a few KB; its metadata
# (settings, names, a standardizer of 65,536 features) stays under 4 MB.
MAX_HEADER_BYTES = 8 * 1024**2
# Each JSON container, key or item may become a Python object of ~64 bytes (`{},` is 3 bytes on disk), so
# the structure is counted and bounded before json.loads builds it; its text is held twice more (the decoded
# header and the parsed strings), at 4 bytes a character once one is not ASCII.
STRUCTURE_COST = 64
MAX_HEADER_COST = 48 * 1024**2
# An MLP has two tensors per layer and the app builds at most 65 layers.
MAX_TENSORS = 1024
# A dimension beyond this is a lie even for an empty tensor; torch could not make its shape.
MAX_DIMENSION = 2**32

# Bytes per element of every dtype the format defines whole-byte sizes for.
DTYPE_BYTES = {
    "BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "F8_E8M0": 1,
    "I16": 2, "U16": 2, "F16": 2, "BF16": 2,
    "I32": 4, "U32": 4, "F32": 4,
    "I64": 8, "U64": 8, "F64": 8, "C64": 8,
}  # fmt: skip
FLOAT_DTYPES = {"F16": torch.float16, "BF16": torch.bfloat16, "F32": torch.float32, "F64": torch.float64}
_TORCH_NAMES = {torch.float16: "F16", torch.bfloat16: "BF16", torch.float32: "F32", torch.float64: "F64"}


@dataclass(frozen=True)
class TensorInfo:
    dtype: str  # the file's name for it: "F32", "BF16", ...
    shape: tuple[int, ...]
    begin: int  # byte offsets into the data section, as the header gives them
    end: int


@dataclass(frozen=True, eq=False)
class Header:
    """A vetted header: every tensor's bytes lie in the file, tile the data section exactly and match its dtype and shape."""

    path: str
    size: int  # of the file vetted, as open_model_path found it
    data_start: int  # where the data section begins: 8 + the header's length
    metadata: dict[str, str]  # __metadata__, {} when absent
    tensors: dict[str, TensorInfo]  # in the header's order

    def shapes(self) -> dict[str, torch.Tensor]:
        """Meta tensors of each tensor's shape: enough to judge an architecture without reading any data."""
        return {name: torch.empty(info.shape, device="meta") for name, info in self.tensors.items()}

    def dtype_problem(self) -> str | None:
        """Why a tensor is not floating-point weights this app reads (tensor_problem's words), or None."""
        for name, info in self.tensors.items():
            if info.dtype in FLOAT_DTYPES:
                continue
            if info.dtype == "BOOL":
                what = "true/false values"
            elif info.dtype.startswith("C"):
                what = f"complex numbers ({info.dtype})"
            elif info.dtype.startswith("F8"):
                return f"its weight {key_text(name)} holds 8-bit floats ({info.dtype}), which this app does not read"
            else:
                what = f"whole numbers ({info.dtype})"
            return f"its weight {key_text(name)} holds {what}, not floating-point weights"
        return None


def sniff(head: bytes) -> bool:
    """Whether the first bytes of a file are a safetensors header's start: a length, then `{`."""
    return len(head) >= 9 and head[8:9] == b"{" and int.from_bytes(head[:8], "little") >= 2


def has_suffix(path: Any) -> bool:
    return os.fsdecode(os.fspath(path)).lower().endswith(SUFFIX)


# --- reading ----------------------------------------------------------------------------------------


def read_header(path: str, f: BinaryIO, size: int) -> Header:
    """Check the file open as `f` (from open_model_path, which found `size`) and its header without the
    library; raises Refused saying what is wrong."""
    f.seek(0)
    if size < 8:
        raise Refused(f"it is only {size} bytes long, too short for a safetensors file (it is truncated)")
    n = int.from_bytes(f.read(8), "little")
    if n == 0:
        raise Refused("its header is empty (length 0), so it is not a valid safetensors file")
    if n > size - 8:
        raise Refused(
            f"its header claims {n:,} bytes but only {size - 8:,} follow the length field: the file is truncated "
            "or not a safetensors file"
        )
    if n > MAX_HEADER_BYTES:
        raise Refused(
            f"its header is {mb(n)}, more than the {mb(MAX_HEADER_BYTES)} this app reads; an MLP's header is a few KB"
        )
    raw = f.read(n)
    if len(raw) != n:
        raise Refused("it was cut short while being read")
    metadata, tensors = _parse(raw, size - 8 - n)
    check_tensor_bytes(sum(_numel(t.shape) * max(DTYPE_BYTES[t.dtype], MIN_VALUE_BYTES) for t in tensors.values()))
    return Header(os.fsdecode(path), size, 8 + n, metadata, tensors)


def _numel(shape: tuple[int, ...]) -> int:
    n = 1
    for d in shape:
        n *= d
    return n


def _parse(raw: bytes, data_bytes: int) -> tuple[dict[str, str], dict[str, TensorInfo]]:
    if raw[:1] != b"{":
        raise Refused("its header does not start with '{', so it is not a valid safetensors file")
    # Counted on the bytes, before any object is built (an over-count inside strings only makes it stricter).
    width = 1 if raw.isascii() else 4
    cost = len(raw) * (1 + 2 * width) + STRUCTURE_COST * sum(raw.count(c) for c in (b"{", b"[", b",", b":"))
    if cost > MAX_HEADER_COST:
        raise Refused("its header would take more than 48 MB of memory to read; an MLP's header is a few KB")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise Refused(f"its header is not valid UTF-8 text (a bad byte at position {exc.start})") from None
    try:
        header = json.loads(text, object_pairs_hook=_no_duplicates)
    except _Duplicate as exc:
        raise Refused(f"its header names {key_text(exc.args[0])} twice") from None
    except RecursionError:
        raise Refused("its header is nested too deeply to be a safetensors header") from None
    except ValueError as exc:
        raise Refused(f"its header is not valid JSON ({first_line(exc)})") from None
    if not isinstance(header, dict):
        raise Refused(f"its header is a JSON {_json_kind(header)}, not an object")
    metadata = header.pop("__metadata__", None)
    if metadata is None:
        metadata = {}
    elif not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise Refused("its __metadata__ is not an object of text values, as the safetensors format requires")
    if not header:
        raise Refused("it holds no tensors")
    if len(header) > MAX_TENSORS:
        raise Refused(f"it holds {len(header):,} tensors; an MLP has two per layer, at most {MAX_TENSORS:,} here")
    tensors = {name: _tensor_info(name, entry) for name, entry in header.items()}
    _check_tiling(tensors, data_bytes)
    return metadata, tensors


class _Duplicate(ValueError):
    pass


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for key, value in pairs:
        if key in out:
            raise _Duplicate(key)
        out[key] = value
    return out


def _json_kind(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _tensor_info(name: str, entry: Any) -> TensorInfo:
    shown = key_text(name)
    if not isinstance(entry, dict):
        raise Refused(f"its header entry {shown} is a JSON {_json_kind(entry)}, not a tensor's description")
    missing = [k for k in ("dtype", "shape", "data_offsets") if k not in entry]
    if missing:
        raise Refused(f"its tensor {shown} has no {missing[0]!r} in the header")
    dtype, shape, offsets = entry["dtype"], entry["shape"], entry["data_offsets"]
    if not isinstance(dtype, str):
        raise Refused(f"its tensor {shown} has a dtype that is not text")
    if dtype not in DTYPE_BYTES:
        raise Refused(f"its tensor {shown} has dtype {key_text(dtype)}, which this app does not know")
    if not isinstance(shape, list) or not all(_whole(d) for d in shape):
        raise Refused(f"its tensor {shown} has a shape that is not a list of whole numbers")
    if len(shape) > 8 or any(d > MAX_DIMENSION for d in shape):
        raise Refused(f"its tensor {shown} has an absurd shape ({len(shape)} dimensions, largest {max(shape):,})")
    if not (isinstance(offsets, list) and len(offsets) == 2 and all(_whole(o) for o in offsets)):
        raise Refused(f"its tensor {shown} has data_offsets that are not two whole numbers [begin, end]")
    begin, end = offsets
    if end < begin:
        raise Refused(f"its tensor {shown} has data_offsets [{begin}, {end}]: the end comes before the start")
    numel = 1
    for d in shape:
        numel *= d
    need = numel * DTYPE_BYTES[dtype]
    if need != end - begin:
        raise Refused(
            f"its tensor {shown} is {dtype} of shape {tuple(shape)}, which takes {need:,} bytes, "
            f"but its data_offsets span {end - begin:,} bytes"
        )
    return TensorInfo(dtype, tuple(shape), begin, end)


def _check_tiling(tensors: dict[str, TensorInfo], data_bytes: int) -> None:
    """The byte ranges must lie in the data section and cover it exactly: no gap, no overlap, nothing after."""
    position, previous = 0, None
    for name, info in sorted(tensors.items(), key=lambda item: (item[1].begin, item[1].end)):
        if info.end > data_bytes:
            raise Refused(
                f"its tensor {key_text(name)} ends at byte {info.end:,} of the data but the file holds only "
                f"{data_bytes:,} bytes of data: it is truncated or its offsets are wrong"
            )
        if info.begin < position:
            raise Refused(f"the data of its tensors {key_text(previous)} and {key_text(name)} overlap")
        if info.begin > position:
            where = f"after {key_text(previous)}" if previous is not None else "before the first tensor"
            raise Refused(f"{info.begin - position:,} bytes of its data {where} belong to no tensor")
        position, previous = info.end, name
    if position != data_bytes:
        raise Refused(f"{data_bytes - position:,} bytes after its last tensor belong to no tensor")


def load_tensors(header: Header, f: BinaryIO) -> dict[str, torch.Tensor]:
    """The vetted file's tensors, read from the same handle into memory and parsed by the safetensors
    library, as cpu tensors that own their values.

    Never memory-mapped: a mapped file truncated by another program kills the process with SIGBUS. The
    header bounded the size (limits.MAX_TENSOR_BYTES), and the caller compares the handle's identity
    before and after, so a file that changes while it is read is refused rather than half-read.
    """
    from safetensors.torch import load

    try:
        f.seek(0)
        data = f.read(header.size + 1)  # one byte more than vetted shows a file that grew
        if len(data) != header.size:
            raise Refused(CHANGED)
        with warnings.catch_warnings():
            # The library's tensors view read-only bytes (torch warns); each is cloned below before any use.
            warnings.simplefilter("ignore", UserWarning)
            loaded = load(data)
        del data
        if set(loaded) != set(header.tensors):
            raise Refused(CHANGED)
        out: dict[str, torch.Tensor] = {}
        for name, info in header.tensors.items():
            t = loaded.pop(name)
            if tuple(t.shape) != info.shape or _TORCH_NAMES.get(t.dtype) != info.dtype:
                raise Refused(CHANGED)
            out[name] = t.clone()  # its own writable memory; the library's bytes go as each is popped
        return out
    except Refused:
        raise
    except OSError as exc:
        raise Refused(os_reason(exc)) from None
    except MemoryError:
        raise
    except Exception:  # SafetensorError and whatever the library meets that the checks above did not foresee
        raise Refused("it is damaged or not a valid safetensors file (the safetensors library cannot read its data)") from None


# --- writing ----------------------------------------------------------------------------------------


def to_bytes(state: Mapping[str, torch.Tensor], metadata: Mapping[str, str] | None) -> bytes:
    """The file's bytes for cpu tensors: contiguous copies, in the format's little-endian layout."""
    from safetensors.torch import save

    tensors = {name: t.detach().to("cpu").contiguous() for name, t in state.items()}
    bad = next((k for k, v in (metadata or {}).items() if not isinstance(k, str) or not isinstance(v, str)), None)
    if bad is not None:
        raise ValueError(f"safetensors metadata must map text to text; {bad!r} does not")
    return save(tensors, metadata=dict(metadata) if metadata else None)
