"""Saving and opening model files: atomic writes, and opening anyone's .pt/.pth without running code from it.

Opening is layered so that a hostile file is refused before torch reads it, with a reason a person
understands, and so that no file can run code or cost much more memory than its size on disk:

1. the path: missing, a folder, not a regular file, empty, larger than MAX_FILE_BYTES;
2. a sniff of the first bytes: torch's zip format, torch's legacy pickle format, or something else
   (text, HTML, a Git LFS pointer, safetensors, HDF5, NumPy, gzip, tar, random bytes);
3. the container: for a zip, the size of its directory, the total it expands to, every member's
   CRC32 (torch itself does not check them), and torch's own reader must see the same members
   with the same sizes; for the legacy format, every storage block declared in the pickle must be
   physically present in the file;
4. the pickle, read with pickletools (never executed): every global it names must be on a short
   allowlist of tensor-rebuilding functions and storage types, and the memory its objects would
   take is estimated and bounded;
5. only then `torch.load(f, weights_only=True, map_location="cpu")`, and afterwards checks of what
   came out: which layout of MLP weights it is, dense finite floating-point tensors whose storage
   really holds their values, and the app's own metadata validated field by field.
"""

from __future__ import annotations

import _compat_pickle
import errno
import io
import json
import math
import os
import pickle
import pickletools
import re
import secrets
import stat
import struct
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
import torch

from core.config import ConfigError, TrainConfig
from core.model import Architecture, ArchitectureError, NeuralNetwork, architecture_from_state_dict

FORMAT = "torch-playground"
VERSION = 1

# --- limits ---------------------------------------------------------------------------------
# A 2 GiB file holds ~500 million float32 weights, far beyond any MLP this app trains; larger files
# are refused before anything is read.
MAX_FILE_BYTES = 2 * 1024**3
# torch.save stores zip members uncompressed, so a genuine torch file expands by a factor of 1.
# Someone may re-zip one with deflate; float weights barely compress, but zero-initialised or pruned
# tensors do, so allow 8x the size on disk and never less than 64 MiB. Anything beyond is a
# decompression bomb: a 300 KB file of deflated zeros would otherwise make torch allocate 300 MB.
EXPANSION_FLOOR = 64 * 1024**2
MAX_EXPANSION = 8
# zipfile builds a ~500-byte ZipInfo per directory entry (an entry costs ~50 bytes on disk), so the
# directory is bounded before it is parsed: 4 MiB is ~80,000 entries, 100 times a large checkpoint.
MAX_ZIP_DIRECTORY_BYTES = 4 * 1024**2
# The pickle holds only the structure (names, shapes, small metadata); the weights live elsewhere.
# An app file with a million-batch history has a pickle of about 1 MB.
MAX_PICKLE_BYTES = 16 * 1024**2
# Each pickle opcode may create one Python object (an empty dict is 64 bytes from a 1-byte opcode),
# so the memory a pickle costs to read is estimated as 64 bytes per opcode plus its text and bytes.
_OPCODE_COST = 64
MAX_PICKLE_COST = 64 * 1024**2
_TOO_COSTLY = "its structure would take more than 64 MB of memory to read; no model's weights need that"
# Walks over loaded metadata count every visit (a shared list is counted each time it is reached),
# so a pickle of doubly shared lists cannot make a walk, a repr or json.dumps take exponential time.
_MAX_METADATA_NODES = 2_000_000
_MAX_DEPTH = 64

_CHUNK = 1024 * 1024
_ZIP_MAGIC = b"PK\x03\x04"
_EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
_LEGACY_PROTOCOL_VERSION = 1001  # torch.serialization.PROTOCOL_VERSION

_WRAPPER_KEYS = ("model_state_dict", "state_dict", "model", "module", "net")
_PREFIXES = {"module.": "DDP", "_orig_mod.": "torch.compile"}
_BOOK_KEY = re.compile(r"^layers\.\d+\.(weight|bias)$")
_SEQUENTIAL_KEY = re.compile(r"^\d+\.(weight|bias)$")
_NAMED_SEQUENTIAL_KEY = re.compile(r"^([A-Za-z_]\w*)\.\d+\.(weight|bias)$")


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


class _Refused(Exception):
    """Internal: a reason to refuse; load_model_file adds the file's name."""


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """What an opened model file holds, checked and in canonical form."""

    path: str
    format: str  # a person's description of the layout found, e.g. "DDP state_dict (module. prefix)"
    state_dict: dict[str, torch.Tensor]  # layers.N.weight/bias, float32, cpu, contiguous
    architecture: Architecture
    activation: str | None  # from the stored config when known
    config: dict | None  # validated through TrainConfig.from_dict (app files only)
    history: dict | None  # {"batch_loss": np.ndarray float64, "epochs": list[dict]} (app files only)
    optimizer_state: dict | None
    standardizer: dict | None  # {"mean": [...], "std": [...]}
    class_names: list[str] | None
    feature_names: list[str] | None
    warnings: tuple[str, ...]

    def build_model(self) -> NeuralNetwork:
        """The book's NeuralNetwork with these weights (ReLU when the activation is unknown)."""
        model = self.architecture.build(self.activation or "relu")
        model.load_state_dict(self.state_dict)
        return model


# =============================================================================================
# Saving
# =============================================================================================


def atomic_torch_save(obj: Any, path: Any) -> None:
    """torch.save to a temporary file in the same folder, flush, fsync, then os.replace.

    On any failure the temporary file is removed and the file that was at `path` is untouched;
    a killed save leaves at most a hidden `.NAME.*.tmp` beside it, never a half-written `path`.
    """
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
            torch.save(obj, f)
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


def save_model_file(
    path: Any,
    *,
    model_state: Mapping[str, torch.Tensor],
    config: Any,
    history: Mapping[str, Any] | None = None,
    optimizer_state: Mapping[str, Any] | None = None,
    standardizer: Mapping[str, Any] | None = None,
    class_names: list[str] | None = None,
    feature_names: list[str] | None = None,
) -> None:
    """Write the app's own model file atomically; plain values only, every tensor moved to the cpu.

    `config` is a TrainConfig or its dict; `history` has `batch_loss` (numbers, stored as one float64
    tensor) and `epochs` (a list of dicts of plain values). Raises ModelFileError when the file
    cannot be written and ValueError when an argument is not what a model file can hold.
    """
    state = _cpu_state_dict(model_state)
    try:
        architecture_from_state_dict(state)
    except ArchitectureError as exc:
        raise ValueError(f"model_state is not the weights of an MLP: {exc}") from None
    if isinstance(config, TrainConfig):
        config = config.to_dict()
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_state_dict": state,
        "config": _json_plain(config, "config"),
        "history": _history_for_save(history),
        "optimizer_state_dict": None if optimizer_state is None else _cpu_tree(optimizer_state, "optimizer_state"),
        "standardizer": _standardizer_for_save(standardizer),
        "class_names": _names_for_save(class_names, "class_names"),
        "feature_names": _names_for_save(feature_names, "feature_names"),
    }
    _save_or_explain(payload, path)


def export_state_dict(path: Any, model_state: Mapping[str, torch.Tensor]) -> None:
    """Write a bare state_dict: what the book's `torch.save(model.state_dict(), path)` writes, on the cpu."""
    # Always a plain OrderedDict, as nn.Module.state_dict() returns: a subclass would be pickled by name.
    _save_or_explain(_cpu_state_dict(model_state), path)


def _save_or_explain(obj: Any, path: Any) -> None:
    try:
        atomic_torch_save(obj, path)
    except OSError as exc:
        raise ModelFileError(path, _os_reason(exc), action="save") from exc


def _os_reason(exc: OSError) -> str:
    reasons = {
        errno.ENOENT: "its folder does not exist",
        errno.EACCES: "permission denied",
        errno.EPERM: "permission denied",
        errno.ENOSPC: "the disk is full",
        errno.EISDIR: "it is a folder",
        errno.EROFS: "the disk is read-only",
    }
    return reasons.get(exc.errno, (exc.strerror or str(exc) or type(exc).__name__).lower())


def _cpu_state_dict(model_state: Mapping[str, torch.Tensor]) -> OrderedDict:
    if not isinstance(model_state, Mapping):
        raise ValueError(f"model_state must be a dict of tensors, got {type(model_state).__name__}")
    out: OrderedDict = OrderedDict()
    for key, value in model_state.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise ValueError(f"model_state must map names to tensors; {key!r} holds {type(value).__name__}")
        # clone: a view would otherwise drag its whole storage into the file
        out[key] = value.detach().to("cpu").clone()
    metadata = getattr(model_state, "_metadata", None)
    if isinstance(metadata, dict):  # what nn.Module.state_dict() attaches; load_state_dict reads it
        out._metadata = {k: dict(v) for k, v in metadata.items()}
    return out


def _cpu_tree(value: Any, where: str, depth: int = 0) -> Any:
    """A copy of an optimizer state with tensors detached, cloned and on the cpu; plain values only."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"{where} is nested too deeply")
    if isinstance(value, torch.Tensor):
        return value.detach().to("cpu").clone()
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {k: _cpu_tree(v, f"{where}[{k!r}]", depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        items = [_cpu_tree(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
        return tuple(items) if isinstance(value, tuple) else items
    raise ValueError(f"{where} holds a {type(value).__name__}, which a model file cannot store as a plain value")


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, torch.Tensor) and value.numel() <= 1_000_000:
        return value.detach().cpu().tolist()
    raise TypeError(f"{type(value).__name__} is not a plain value")


def _json_plain(value: Any, where: str) -> Any:
    """A deep copy made of dicts, lists, text, numbers, booleans and None (nan and inf allowed)."""
    try:
        return json.loads(json.dumps(value, default=_json_default))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{where} must hold plain values (dicts, lists, text, numbers): {exc}") from None


def _history_for_save(history: Mapping[str, Any] | None) -> dict | None:
    if history is None:
        return None
    if not isinstance(history, Mapping):
        raise ValueError(f"history must be a dict, got {type(history).__name__}")
    out = _json_plain({k: v for k, v in history.items() if k != "batch_loss"}, "history")
    losses = history.get("batch_loss", [])
    if isinstance(losses, torch.Tensor):
        losses = losses.detach().to("cpu", torch.float64)
    # One float64 tensor: a million losses take 8 MB, not the ~30 MB of a pickled list of floats.
    out["batch_loss"] = torch.as_tensor(np.asarray(losses, dtype=np.float64).reshape(-1)).clone()
    out.setdefault("epochs", [])
    return out


def _standardizer_for_save(standardizer: Mapping[str, Any] | None) -> dict | None:
    if standardizer is None:
        return None
    try:
        return {key: [float(x) for x in np.asarray(standardizer[key], dtype=np.float64).reshape(-1)] for key in ("mean", "std")}
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"standardizer must be {{'mean': [...], 'std': [...]}} of numbers: {exc}") from None


def _names_for_save(names: Any, where: str) -> list[str] | None:
    if names is None:
        return None
    names = list(names)
    if not all(isinstance(n, str) for n in names):
        raise ValueError(f"{where} must be a list of text")
    return names


# =============================================================================================
# Opening
# =============================================================================================


def load_model_file(path: Any) -> LoadedModel:
    """Open a .pt/.pth file of MLP weights from this app, the book's code or elsewhere.

    Never runs code from the file and never lets a small file take much memory; anything that is
    not plain MLP weights raises ModelFileError with a reason a person understands.
    """
    shown = os.fsdecode(os.fspath(path))
    try:
        return _load(shown)
    except _Refused as exc:
        raise ModelFileError(shown, str(exc)) from None
    except MemoryError:
        raise ModelFileError(shown, "there is not enough memory to open it") from None
    except Exception as exc:  # a hostile file must never escape as anything but a refusal
        raise ModelFileError(shown, f"it could not be read ({type(exc).__name__}: {_first_line(exc)})") from exc


def _load(path: str) -> LoadedModel:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        raise _Refused("there is no such file") from None
    except NotADirectoryError:
        raise _Refused("a part of the path is not a folder") from None
    except OSError as exc:
        raise _Refused(_os_reason(exc)) from None
    if stat.S_ISDIR(st.st_mode):
        raise _Refused("it is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):  # a FIFO or a device would block or never end
        raise _Refused("it is not a regular file")
    try:
        f = open(path, "rb")
    except OSError as exc:
        raise _Refused(_os_reason(exc)) from None
    with f:
        # Everything below reads this one handle, so the file checked is the file loaded.
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            raise _Refused("it is empty (0 bytes)")
        if size > MAX_FILE_BYTES:
            raise _Refused(
                f"it is {_mb(size)}, larger than the {_mb(MAX_FILE_BYTES)} this app opens; an MLP's weights are far smaller"
            )
        head = f.read(512)
        kind = _sniff(head, size)
        scan = _check_zip(f, size) if kind == "zip" else _check_legacy(f, size)
        _judge_pickle(scan)
        f.seek(0)
        obj = _torch_load(f, scan)
    return _interpret(obj, path, scan)


# --- sniffing ----------------------------------------------------------------------------------


def _sniff(head: bytes, size: int) -> str:
    """'zip' or 'legacy' for torch's two formats; otherwise refuse, saying what the file looks like."""
    if head.startswith(_ZIP_MAGIC):
        return "zip"
    if head.startswith(_EMPTY_ZIP_MAGIC):
        raise _Refused("it is an empty zip archive, not a PyTorch model file")
    if len(head) >= 2 and head[0] == 0x80 and 2 <= head[1] <= 5:
        return "legacy"
    if head.startswith(b"version https://git-lfs"):
        raise _Refused("it is a Git LFS pointer, not the model itself; fetch the real file with `git lfs pull`")
    if head.startswith(b"\x89HDF"):
        raise _Refused("it is an HDF5 file (such as a Keras .h5 model), not a PyTorch model file")
    if head.startswith(b"\x93NUMPY"):
        raise _Refused("it is a NumPy .npy array file, not a PyTorch model file")
    if head.startswith(b"\x1f\x8b"):
        raise _Refused("it is gzip-compressed; decompress it first (PyTorch model files are not gzipped)")
    if len(head) >= 262 and head[257:262] == b"ustar":
        raise _Refused("it is a tar archive (the format of PyTorch before 0.4), which cannot be opened safely; re-save it")
    if len(head) >= 10 and head[8:10] in (b'{"', b"{'"):
        n = int.from_bytes(head[:8], "little")
        if 0 < n < size:
            raise _Refused("it is a safetensors file; this app opens PyTorch .pt/.pth files")
    if _looks_like_text(head):
        stripped = head.lstrip()
        if stripped[:1] == b"<":
            raise _Refused("it is a web page or other markup text (HTML/XML), not a PyTorch model file")
        if stripped[:1] in (b"{", b"["):
            raise _Refused("it is a JSON text file, not a PyTorch model file")
        raise _Refused("it is a text file, not a PyTorch model file")
    raise _Refused("it is not a PyTorch model file: its contents match no format this app knows")


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


# --- torch's zip format ------------------------------------------------------------------------


def _check_zip(f: BinaryIO, size: int) -> _Scan:
    directory_bytes = _zip_directory_bytes(f, size)
    if directory_bytes > MAX_ZIP_DIRECTORY_BYTES:
        raise _Refused(f"its zip directory is {_mb(directory_bytes)}, far more than a model file needs")
    f.seek(0)
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, struct.error) as exc:
        raise _Refused(f"it is damaged or was cut short: its zip structure cannot be read ({exc})") from None
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):  # which copy a reader takes differs between zip readers
        raise _Refused("it is damaged or tampered with: its zip archive lists the same part twice")
    prefix = names[0].split("/", 1)[0] if names else ""
    if not names or not all(n.startswith(prefix + "/") for n in names):
        raise _Refused("it is a zip archive, but not a PyTorch model file (torch keeps everything in one folder)")
    inner = {n[len(prefix) + 1 :]: i for n, i in zip(names, infos, strict=True)}
    if "constants.pkl" in inner or any(n.startswith("code/") for n in inner):
        raise _Refused(
            "it is a TorchScript archive (torch.jit.save), which holds code; save the weights with "
            "torch.save(model.state_dict(), path) instead"
        )
    if "data.pkl" not in inner:
        raise _Refused("it is a zip archive, but not a PyTorch model file (there is no data.pkl inside)")
    total = 0
    for info in infos:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise _Refused(
                f"its part {info.filename!r} uses a zip compression (method {info.compress_type}) that torch cannot read"
            )
        if info.flag_bits & 0x1:
            raise _Refused("it is an encrypted zip archive")
        total += info.file_size
    limit = min(max(EXPANSION_FLOOR, MAX_EXPANSION * size), MAX_FILE_BYTES)
    if total > limit:
        raise _Refused(
            f"it would expand to {_mb(total)} when read although it is {_mb(size)} on disk; "
            f"files that expand beyond {_mb(limit)} are refused as decompression bombs"
        )
    if inner["data.pkl"].file_size > MAX_PICKLE_BYTES:
        raise _Refused(
            f"its data.pkl is {_mb(inner['data.pkl'].file_size)}, far larger than the description of any set of weights"
        )
    unrecorded = _check_crcs(zf, infos)
    pickle_bytes = _torch_data_pkl(f, {k: i.file_size for k, i in inner.items()})
    scan = _scan_pickle(io.BytesIO(pickle_bytes))
    scan.unrecorded_crcs = unrecorded
    _check_zip_storages(scan, {k: i.file_size for k, i in inner.items()})
    return scan


def _zip_directory_bytes(f: BinaryIO, size: int) -> int:
    """The central directory's size as the end-of-archive record says, before anything parses it."""
    tail_len = min(size, 22 + 65535)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    pos = tail.rfind(_EMPTY_ZIP_MAGIC)
    if pos < 0 or len(tail) - pos < 22:
        raise _Refused("it is damaged or was cut short: the end of its zip structure is missing")
    entries, cd_size, cd_offset = struct.unpack("<2xHLL", tail[pos + 8 : pos + 20])
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        eocd = size - tail_len + pos
        if eocd >= 20:
            f.seek(eocd - 20)
            locator = f.read(20)
            if locator[:4] == b"PK\x06\x07":
                (z64_offset,) = struct.unpack("<Q", locator[8:16])
                if z64_offset + 56 <= size:
                    f.seek(z64_offset)
                    record = f.read(56)
                    if record[:4] == b"PK\x06\x06":
                        (cd_size,) = struct.unpack("<Q", record[40:48])
    return cd_size


def _check_crcs(zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo]) -> list[str]:
    """Read every member in chunks so zipfile verifies its CRC32; torch would load flipped bytes silently."""
    unrecorded = []
    for info in infos:
        try:
            with zf.open(info) as member:
                while member.read(_CHUNK):
                    pass
        except zipfile.BadZipFile as exc:
            if "CRC" in str(exc) and info.CRC == 0:
                # torch.serialization.config.save.compute_crc32 = False writes 0 instead of a checksum.
                unrecorded.append(info.filename)
                continue
            raise _Refused(f"it is damaged: its part {info.filename!r} does not match its checksum") from None
        except (EOFError, OSError, ValueError, NotImplementedError, RuntimeError, struct.error) as exc:
            raise _Refused(f"it is damaged or was cut short: its part {info.filename!r} cannot be read ({exc})") from None
        except Exception as exc:  # zlib.error and kin: the compressed bytes are corrupt
            raise _Refused(f"it is damaged: its part {info.filename!r} cannot be decompressed ({exc})") from None
    return unrecorded


def _torch_data_pkl(f: BinaryIO, python_sizes: dict[str, int]) -> bytes:
    """Ask torch's own zip reader what it sees, so both parsers agree; return data.pkl as torch reads it."""
    f.seek(0)
    try:
        reader = torch._C.PyTorchFileReader(f)
        torch_names = set(reader.get_all_records())
        if torch_names != set(python_sizes):
            raise _Refused(
                "its zip structure is inconsistent (torch and Python see different parts): it is damaged or tampered with"
            )
        if hasattr(reader, "get_record_size"):
            for name in torch_names:
                if reader.get_record_size(name) != python_sizes[name]:
                    raise _Refused(f"its zip structure is inconsistent for {name!r}: it is damaged or tampered with")
        pickle_bytes = reader.get_record("data.pkl")
    except _Refused:
        raise
    except Exception as exc:
        raise _Refused(f"it is damaged or not a PyTorch file: torch cannot read its zip structure ({_first_line(exc)})") from None
    return bytes(pickle_bytes)


def _check_zip_storages(scan: _Scan, sizes: dict[str, int]) -> None:
    declared: dict[str, int] = {}
    for pid in scan.persistent_ids:
        storage_type, key, numel = _storage_pid(pid, legacy=False)
        nbytes = numel * _storage_itemsize(storage_type)
        if declared.setdefault(key, nbytes) != nbytes:
            raise _Refused(f"it is damaged: storage {key!r} is declared with two different sizes")
        record = f"data/{key}"
        if record not in sizes:
            raise _Refused(f"it is damaged or incomplete: the data of storage {key!r} is missing")
        if sizes[record] != nbytes:
            raise _Refused(f"it is damaged: storage {key!r} declares {nbytes} bytes but holds {sizes[record]}")


# --- torch's legacy (non-zip) format ---------------------------------------------------------------


def _check_legacy(f: BinaryIO, size: int) -> _Scan:
    """Walk the five pickles and the raw storage blocks after them, and prove every declared storage is present."""
    f.seek(0)
    reader = _LimitedReader(f, size)
    scans = []
    for index in range(5):
        # Judge each pickle as soon as it is read: a plain pickle of os.system is "code", not "damaged".
        scan = _scan_pickle(reader, first_in_file=index == 0)
        _judge_pickle(scan)
        if index == 0 and scan.result != _LEGACY_MAGIC_NUMBER:
            raise _Refused("it is a Python pickle, but not one written by torch.save")
        if index == 1 and scan.result != _LEGACY_PROTOCOL_VERSION:
            raise _Refused("it is damaged or from an unknown PyTorch version: its format number is not torch's")
        scans.append(scan)
    main, keys = scans[3], scans[4]
    main.cost = sum(s.cost for s in scans)
    main.persistent_ids = [pid for s in scans for pid in s.persistent_ids]
    if main.cost > MAX_PICKLE_COST:
        raise _Refused(_TOO_COSTLY)
    storage_keys = keys.result
    if not isinstance(storage_keys, list) or not all(isinstance(k, str) for k in storage_keys):
        raise _Refused("it is damaged: the list of its storages cannot be read")
    declared: dict[str, tuple[int, int]] = {}
    for pid in main.persistent_ids:
        storage_type, key, numel = _storage_pid(pid, legacy=True)
        item = (numel, _storage_itemsize(storage_type))
        if declared.setdefault(key, item) != item:
            raise _Refused(f"it is damaged: storage {key!r} is declared with two different sizes")
    if set(declared) != set(storage_keys) or len(storage_keys) != len(set(storage_keys)):
        raise _Refused("it is damaged: the storages it declares and the storages it holds differ")
    pos = reader.tell()
    declared_bytes = sum(numel * itemsize for numel, itemsize in declared.values())
    if pos + declared_bytes > size:  # every declared byte must be in the file, so the file's size bounds the memory
        raise _Refused(
            f"it declares {_mb(declared_bytes)} of weights but holds only {_mb(size - pos)} of data: "
            "it was cut short or is damaged"
        )
    for key in storage_keys:
        numel, itemsize = declared[key]
        f.seek(pos)
        raw = f.read(8)
        if len(raw) < 8:
            raise _Refused("it was cut short: the data of its weights ends early")
        (count,) = struct.unpack("<q", raw)
        if count != numel:
            raise _Refused(f"it is damaged: storage {key!r} declares {numel} values but holds {count}")
        pos += 8 + count * itemsize
        if pos > size:
            raise _Refused("it was cut short: the data of its weights ends early")
    return main


class _LimitedReader:
    """A file view whose reads never ask for more than the file holds (a pickle may claim a 4 GB string)."""

    def __init__(self, f: BinaryIO, size: int) -> None:
        self._f, self._size, self._pos = f, size, f.tell()

    def read(self, n: int = -1) -> bytes:
        left = max(self._size - self._pos, 0)
        data = self._f.read(left if n is None or n < 0 else min(n, left))
        self._pos += len(data)
        return data

    def readline(self, limit: int = -1) -> bytes:
        data = self._f.readline(4096)  # module and class names are short
        self._pos += len(data)
        return data

    def tell(self) -> int:
        return self._pos


# --- reading pickles without running them ------------------------------------------------------

_UNKNOWN = object()  # a value the scan does not model (a dict, the result of a call, ...)
_MARK = pickletools.markobject


class _Global:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class _Scan:
    """What a pickle would do if it were run, found by reading its opcodes."""

    def __init__(self) -> None:
        self.globals: list[str] = []
        self.persistent_ids: list[Any] = []
        self.protocol = 0
        self.opcode_protocol = 0  # the newest pickle protocol among the opcodes used
        self.cost = 0
        self.module_state = False  # strings such as "_modules": the state of a pickled nn.Module
        self.result: Any = _UNKNOWN
        self.unrecorded_crcs: list[str] = []


_CONSTANT_OPS = {
    "INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4", "FLOAT", "BINFLOAT",
    "STRING", "BINSTRING", "SHORT_BINSTRING", "UNICODE", "BINUNICODE", "SHORT_BINUNICODE", "BINUNICODE8",
    "BINBYTES", "SHORT_BINBYTES", "BINBYTES8", "BYTEARRAY8",
}  # fmt: skip
_MODULE_STATE_NAMES = {"_modules", "_parameters", "_buffers", "_forward_hooks", "_non_persistent_buffers_set"}


def _scan_pickle(f: Any, *, first_in_file: bool = False) -> _Scan:
    """_scan_one, with unreadable bytes turned into a refusal."""
    try:
        return _scan_one(f)
    except _Refused:
        raise
    except Exception as exc:  # genops raises ValueError on bad or missing bytes; the stack may underflow
        if first_in_file:
            raise _Refused(
                f"it is not a PyTorch model file: it starts like a pickle but cannot be read ({_first_line(exc)})"
            ) from None
        raise _Refused(f"it is damaged or was cut short: its pickled structure cannot be read ({_first_line(exc)})") from None


def _scan_one(f: Any) -> _Scan:
    """Model a pickle's stack, memo and globals from its opcodes; nothing is imported or called."""
    scan = _Scan()
    stack: list[Any] = []
    metastack: list[list[Any]] = []
    memo: dict[int, Any] = {}

    def pop_mark() -> list[Any]:
        nonlocal stack
        items = stack
        stack = metastack.pop()
        return items

    for op, arg, _pos in pickletools.genops(f):
        name = op.name
        scan.opcode_protocol = max(scan.opcode_protocol, op.proto)
        scan.cost += _OPCODE_COST
        if scan.cost > MAX_PICKLE_COST:
            raise _Refused(_TOO_COSTLY)
        if name in _CONSTANT_OPS:
            if isinstance(arg, (str, bytes)):
                scan.cost += len(arg)
                if arg in _MODULE_STATE_NAMES:
                    scan.module_state = True
            stack.append(arg)
        elif name == "PROTO":
            scan.protocol = arg
        elif name == "STOP":
            scan.result = stack.pop()
            return scan
        elif name == "MARK":
            metastack.append(stack)
            stack = []
        elif name in ("NONE", "NEWTRUE", "NEWFALSE"):
            stack.append({"NONE": None, "NEWTRUE": True, "NEWFALSE": False}[name])
        elif name == "EMPTY_TUPLE":
            stack.append(())
        elif name in ("TUPLE1", "TUPLE2", "TUPLE3"):
            n = int(name[-1])
            items = tuple(stack[-n:])
            if len(items) != n:
                raise IndexError("stack underflow")
            del stack[-n:]
            stack.append(items)
        elif name == "TUPLE":
            items = tuple(pop_mark())  # not stack.append(tuple(pop_mark())): that appends to the popped list
            stack.append(items)
        elif name == "EMPTY_LIST":
            stack.append([])
        elif name == "LIST":
            items = pop_mark()
            stack.append(items)
        elif name == "APPEND":
            item = stack.pop()
            if isinstance(stack[-1], list):
                stack[-1].append(item)
        elif name == "APPENDS":
            items = pop_mark()
            if isinstance(stack[-1], list):
                stack[-1].extend(items)
        elif name in ("GLOBAL", "INST"):
            module, _, qualname = arg.partition(" ")
            full = _global_name(module, qualname)
            scan.globals.append(full)
            if name == "INST":
                pop_mark()
                stack.append(_UNKNOWN)
            else:
                stack.append(_Global(full))
        elif name == "STACK_GLOBAL":
            qualname, module = stack.pop(), stack.pop()
            full = _global_name(module, qualname) if isinstance(module, str) and isinstance(qualname, str) else "<computed name>"
            scan.globals.append(full)
            stack.append(_Global(full))
        elif name in ("EXT1", "EXT2", "EXT4"):
            scan.globals.append(f"<copyreg extension {arg}>")
            stack.append(_UNKNOWN)
        elif name in ("PUT", "BINPUT", "LONG_BINPUT"):
            memo[arg] = stack[-1]
        elif name == "MEMOIZE":
            memo[len(memo)] = stack[-1]
        elif name in ("GET", "BINGET", "LONG_BINGET"):
            stack.append(memo[arg])
        elif name == "PERSID":
            scan.persistent_ids.append(arg)
            stack.append(_UNKNOWN)
        elif name == "BINPERSID":
            scan.persistent_ids.append(stack.pop())
            stack.append(_UNKNOWN)
        else:
            # Everything else (dicts, sets, REDUCE, NEWOBJ, BUILD, ...) only needs its stack effect.
            before = op.stack_before
            if _MARK in before:
                pop_mark()
                before = before[: before.index(_MARK)]
            if before:
                if len(stack) < len(before):
                    raise IndexError("stack underflow")
                del stack[-len(before) :]
            stack.extend([_UNKNOWN] * len(op.stack_after))
    raise _Refused("it was cut short: its pickled structure has no end")


def _global_name(module: str, qualname: str) -> str:
    # The same Python 2 renames that pickle and torch's weights-only unpickler apply (__builtin__ -> builtins).
    if (module, qualname) in _compat_pickle.NAME_MAPPING:
        module, qualname = _compat_pickle.NAME_MAPPING[(module, qualname)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{qualname}"


def _storage_pid(pid: Any, *, legacy: bool) -> tuple[str, str, int]:
    size = 6 if legacy else 5
    if not (isinstance(pid, tuple) and len(pid) == size and pid[0] in ("storage", b"storage")):
        raise _Refused("it refers to data in a way torch.save never writes; it is damaged or not a PyTorch file")
    storage_type, key, numel = pid[1], pid[2], pid[4]
    if isinstance(key, bytes):
        key = key.decode("ascii", "replace")
    if not isinstance(storage_type, _Global) or not isinstance(key, str) or isinstance(numel, bool) or not isinstance(numel, int):
        raise _Refused("it refers to data in a way torch.save never writes; it is damaged or not a PyTorch file")
    if numel < 0:
        raise _Refused(f"it is damaged: storage {key!r} has a negative size")
    return storage_type.name, key, numel


def _storage_itemsize(name: str) -> int:
    itemsize = _storage_types().get(name)
    if itemsize is None:
        raise _Refused(f"it stores data of a kind this app does not know ({name})")
    return itemsize


_STORAGE_TYPES: dict[str, int] = {}


def _storage_types() -> dict[str, int]:
    """'torch.FloatStorage' -> 4, ...: every storage type torch.save names, with its element size."""
    if not _STORAGE_TYPES:
        names = [
            "DoubleStorage", "FloatStorage", "HalfStorage", "BFloat16Storage", "LongStorage", "IntStorage",
            "ShortStorage", "CharStorage", "ByteStorage", "BoolStorage", "ComplexFloatStorage", "ComplexDoubleStorage",
            "QInt8Storage", "QUInt8Storage", "QInt32Storage", "QUInt4x2Storage", "QUInt2x4Storage",
        ]  # fmt: skip
        table = {}
        for n in names:
            try:
                table[f"torch.{n}"] = torch.serialization.StorageType(n).dtype.itemsize
            except (AttributeError, KeyError, RuntimeError):
                continue
        table["torch.storage.UntypedStorage"] = 1
        table["torch.UntypedStorage"] = 1
        _STORAGE_TYPES.update(table)
    return _STORAGE_TYPES


# --- judging what the pickle names -------------------------------------------------------------

# The only callables a file of weights needs. torch's weights-only unpickler allows more (bytearray,
# torch.Tensor, _rebuild_from_type_v2, ...), and some of those let a 40-byte file allocate gigabytes:
# `bytearray(1_500_000_000)` is an allowed call. Anything else is refused before torch sees it.
_SAFE_GLOBALS = {
    "collections.OrderedDict",
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state",
    "torch.Size",
    "torch.device",
    "_codecs.encode",  # how protocol 2 writes bytes
}
_SPARSE_GLOBALS = {
    "torch._utils._rebuild_sparse_tensor",
    "torch._utils._rebuild_sparse_csr_tensor",
    "torch.serialization._get_layout",
}
_QUANTIZED_GLOBALS = {
    "torch._utils._rebuild_qtensor", "torch.per_tensor_affine", "torch.per_tensor_symmetric", "torch.per_channel_affine",
    "torch.per_channel_symmetric", "torch.per_channel_affine_float_qparams",
}  # fmt: skip
_CODE_MODULES = {
    "os", "posix", "nt", "subprocess", "sys", "shutil", "socket", "importlib", "runpy", "pty", "webbrowser", "pickle",
    "_pickle", "marshal", "ctypes", "code", "codeop", "types", "functools", "operator", "inspect", "pdb", "bdb", "timeit",
    "multiprocessing", "asyncio", "ssl", "http", "urllib", "ftplib", "smtplib", "telnetlib", "platform", "tempfile",
    "io", "_io", "signal", "threading", "_thread", "commands", "popen2", "posixpath", "ntpath",
    "shelve", "dbm", "zipimport", "pydoc", "cProfile", "profile", "trace", "doctest", "venv", "ensurepip", "pip",
    "setuptools", "distutils", "torch.hub", "torch.ops", "torch._C", "torch.jit", "torch.utils.cpp_extension",
}  # fmt: skip
_CODE_BUILTINS = {
    "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals", "locals", "vars",
    "input", "breakpoint", "exit", "quit", "help", "print", "memoryview", "classmethod", "staticmethod", "super", "type",
}  # fmt: skip


def _dtype_names() -> set[str]:
    return {str(v) for v in vars(torch).values() if isinstance(v, torch.dtype)}


def _is_code(name: str) -> bool:
    module, _, attr = name.rpartition(".")
    if module == "builtins":
        return attr in _CODE_BUILTINS
    return any(module == m or module.startswith(m + ".") for m in _CODE_MODULES) or name.startswith("<")


def _judge_pickle(scan: _Scan) -> None:
    """Refuse, with the most telling reason, any pickle that names a global outside the allowlist."""
    allowed = _SAFE_GLOBALS | set(_storage_types()) | _dtype_names()
    unsafe = list(dict.fromkeys(g for g in scan.globals if g not in allowed))
    if not unsafe:
        if scan.cost > MAX_PICKLE_COST:
            raise _Refused(_TOO_COSTLY)
        if scan.opcode_protocol > 2:
            # torch.save writes protocol 2; torch's weights-only unpickler reads no opcode newer than that.
            raise _Refused(
                f"it was saved with pickle protocol {max(scan.protocol, scan.opcode_protocol)}, which the safe loader "
                "cannot read; re-save it with torch.save's default protocol"
            )
        return
    code = [g for g in unsafe if _is_code(g)]
    if code:
        raise _Refused(
            f"it contains code, not just plain weights: opening it would call {_names(code)}; "
            "it was refused and nothing in it was run"
        )
    modules = [g for g in unsafe if g.startswith("torch.nn.")]
    others = [g for g in unsafe if not g.startswith("torch.")]
    if modules or (scan.module_state and others):
        shown = [g for g in unsafe if not g.startswith(("torch.", "builtins."))] or modules
        raise _Refused(
            f"it holds a whole pickled model ({_names(shown)}), not a state_dict, and nothing in it was run; "
            "save model.state_dict() instead"
        )
    if any(g in _SPARSE_GLOBALS for g in unsafe):
        raise _Refused("it holds sparse tensors, not plain dense weights; save them with tensor.to_dense()")
    if any(g in _QUANTIZED_GLOBALS for g in unsafe):
        raise _Refused("it holds quantized tensors, not floating-point weights")
    if "torch._utils._rebuild_meta_tensor_no_storage" in unsafe:
        raise _Refused("it holds meta tensors, which have a shape but no values")
    if all(g.startswith("torch.") for g in unsafe):
        raise _Refused(
            f"it holds special tensors or torch objects ({_names(unsafe)}) rather than plain weights; nothing in it was run"
        )
    raise _Refused(
        f"it contains Python objects that are not plain weights ({_names(unsafe)}); it was refused and nothing in it was run"
    )


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


# --- torch.load ---------------------------------------------------------------------------------


def _torch_load(f: BinaryIO, scan: _Scan) -> Any:
    try:
        # torch's own gate against code; the allowlist scan above is a second, stricter one that also bounds memory.
        return torch.load(f, weights_only=True, map_location="cpu")
    except pickle.UnpicklingError as exc:
        text = str(exc)
        if "Unsupported operand" in text and scan.protocol > 2:
            raise _Refused(
                f"it was saved with pickle protocol {scan.protocol}, which the safe loader cannot read; "
                "re-save it with torch.save's default protocol"
            ) from None
        found = re.search(r"GLOBAL ([\w.]+)", text)
        detail = f" ({found.group(1)})" if found else ""
        raise _Refused(
            f"it contains objects that are not plain weights{detail}; the safe loader refused it and nothing in it was run"
        ) from None
    except MemoryError:
        raise
    except Exception as exc:
        raise _Refused(f"it is damaged or not a valid PyTorch file (torch says: {_first_line(exc)})") from None


# --- making sense of what was loaded ---------------------------------------------------------


def _interpret(obj: Any, path: str, scan: _Scan) -> LoadedModel:
    notes: list[str] = []
    if scan.unrecorded_crcs:
        notes.append("it was saved without checksums, so damage to its contents cannot be detected")
    meta: dict[str, Any] = {}
    if isinstance(obj, dict) and obj.get("format") == FORMAT:
        version = obj.get("version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise _Refused(f"it is a Torch Playground file with an unreadable version ({_describe(version)})")
        if version > VERSION:
            raise _Refused(f"it was saved by a newer Torch Playground (file version {version}); this one reads version {VERSION}")
        raw = obj.get("model_state_dict")
        if not isinstance(raw, dict):
            raise _Refused(f"it is a Torch Playground file, but its model_state_dict is {_describe(raw)}, not weights")
        state, layout = _canonical(raw)
        description = "Torch Playground model"
        meta = obj
    else:
        raw, wrapper = _find_state_dict(obj)
        state, layout = _canonical(raw)
        description = (
            layout
            if wrapper is None
            else f"{'state_dict' if layout == 'state_dict (book layout)' else layout} inside {wrapper!r}"
        )
    architecture, weights = _check_weights(state, notes)
    config = activation = history = optimizer_state = standardizer = class_names = feature_names = None
    if meta:
        config = _read_config(meta.get("config"), architecture, notes)
        activation = config["activation"] if config else None
        history = _read_history(meta.get("history"), notes)
        optimizer_state = _read_optimizer_state(meta.get("optimizer_state_dict"), notes)
        standardizer = _read_standardizer(meta.get("standardizer"), architecture.inputs, notes)
        class_names = _read_names(meta.get("class_names"), architecture.outputs, "class names", "outputs", notes)
        feature_names = _read_names(meta.get("feature_names"), architecture.inputs, "feature names", "inputs", notes)
    return LoadedModel(
        path=path,
        format=description,
        state_dict=weights,
        architecture=architecture,
        activation=activation,
        config=config,
        history=history,
        optimizer_state=optimizer_state,
        standardizer=standardizer,
        class_names=class_names,
        feature_names=feature_names,
        warnings=tuple(notes),
    )


def _describe(value: Any) -> str:
    """'a list', 'a tensor of shape (3, 4)', ... without repr(), which a hostile structure could make huge."""
    if value is None:
        return "nothing (None)"
    if isinstance(value, torch.Tensor):
        return f"a single tensor of shape {tuple(value.shape)}"
    name = type(value).__name__
    return f"{'an' if name[:1].lower() in 'aeiou' else 'a'} {name}"


def _find_state_dict(obj: Any) -> tuple[dict, str | None]:
    if not isinstance(obj, dict):
        raise _Refused(f"it holds {_describe(obj)}, not model weights")
    if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
        return obj, None
    for key in _WRAPPER_KEYS:
        inner = obj.get(key)
        if isinstance(inner, dict) and inner and all(isinstance(v, torch.Tensor) for v in inner.values()):
            return inner, key
    tensors = [k for k, v in obj.items() if isinstance(v, torch.Tensor)]
    if tensors:
        odd = next(k for k, v in obj.items() if not isinstance(v, torch.Tensor))
        raise _Refused(f"its entry {_key(odd)} holds {_describe(obj[odd])}, not a tensor, so it is not a state_dict of weights")
    keys = [_key(k) for k in list(obj)[:5]]
    listed = f" (keys: {', '.join(keys)}{', ...' if len(obj) > 5 else ''})" if keys else ""
    raise _Refused(f"it holds a dict without any tensors{listed}, not model weights")


def _key(key: Any) -> str:
    if isinstance(key, str):
        return repr(key if len(key) <= 60 else key[:57] + "...")
    return f"<{type(key).__name__} key>"


def _canonical(raw: dict) -> tuple[dict[str, Any], str]:
    """Rename keys to the book's layers.N.weight/bias and say which layout they came in."""
    if not raw:
        raise _Refused("it holds no weights (an empty state_dict)")
    bad = next((k for k in raw if not isinstance(k, str)), None)
    if bad is not None:
        raise _Refused(f"it has a weight whose name is not text ({_key(bad)})")
    keys = list(raw)
    prefixes = []
    while True:
        prefix = next((p for p in _PREFIXES if all(k.startswith(p) for k in keys)), None)
        if prefix is None:
            break
        prefixes.append(prefix)
        keys = [k[len(prefix) :] for k in keys]
    layout = "state_dict (book layout)"
    if all(_BOOK_KEY.match(k) for k in keys):
        pass
    elif all(_SEQUENTIAL_KEY.match(k) for k in keys):
        keys = ["layers." + k for k in keys]
        layout = "nn.Sequential state_dict"
    else:
        names = {m.group(1) if m else None for m in map(_NAMED_SEQUENTIAL_KEY.match, keys)}
        if len(names) == 1 and None not in names:
            (name,) = names
            keys = ["layers." + k[len(name) + 1 :] for k in keys]
            layout = f"nn.Sequential state_dict (named {name!r})"
    if prefixes:
        kinds = " + ".join(_PREFIXES[p] for p in prefixes)
        shown = " and ".join(prefixes)
        layout = f"{kinds} state_dict ({shown} prefix{'es' if len(prefixes) > 1 else ''})"
    return dict(zip(keys, raw.values(), strict=True)), layout


def _check_weights(state: dict[str, Any], notes: list[str]) -> tuple[Architecture, dict[str, torch.Tensor]]:
    odd = next((k for k, t in state.items() if not isinstance(t, torch.Tensor)), None)
    if odd is not None:
        raise _Refused(f"its weight {odd!r} holds {_describe(state[odd])}, not a tensor")
    # Shapes first (they are readable on any tensor): a CNN is "not an MLP", not "has int buffers".
    try:
        architecture = architecture_from_state_dict(state)
    except ArchitectureError as exc:
        raise _Refused(f"its weights are not those of an MLP this app can build: {exc}") from None
    for key, t in state.items():
        problem = _tensor_problem(t, float_only=True)
        if problem:
            raise _Refused(f"its weight {key!r} {problem}")
    # Overlapping views could make the float32 copies below far larger than the storages loaded.
    storages = {(t.untyped_storage().data_ptr(), t.untyped_storage().nbytes()) for t in state.values()}
    if sum(t.numel() * t.element_size() for t in state.values()) > sum(n for _, n in storages):
        raise _Refused("its weights overlap in memory, which torch.save of a model never writes")
    dtypes = {t.dtype for t in state.values()} - {torch.float32}
    if dtypes:
        shown = ", ".join(sorted(str(d).replace("torch.", "") for d in dtypes))
        notes.append(f"its weights were stored as {shown} and are used as float32")
    weights: dict[str, torch.Tensor] = {}
    for index in sorted({int(k.split(".")[1]) for k in state}):
        for part in ("weight", "bias"):
            key = f"layers.{index}.{part}"
            t = state[key].detach()
            if t.dtype == torch.float64 and not bool(torch.isfinite(t).all()):
                raise _Refused(f"its weight {key!r} contains NaN or infinite values (non-finite), so it cannot compute anything")
            w = t.to(torch.float32).contiguous()
            if w.untyped_storage().nbytes() > w.numel() * w.element_size():
                w = w.clone()  # a slice of a larger storage: keep only its own values
            if not bool(torch.isfinite(w).all()):
                reason = "values too large for float32" if t.dtype == torch.float64 else "NaN or infinite values (non-finite)"
                raise _Refused(f"its weight {key!r} contains {reason}, so it cannot compute anything")
            weights[key] = w
    return architecture, weights


def _tensor_problem(t: Any, *, float_only: bool) -> str | None:
    """Why a loaded value is not a plain dense cpu tensor whose storage holds all its values, or None."""
    if not isinstance(t, torch.Tensor):
        return f"holds {_describe(t)}, not a tensor"
    if t.layout != torch.strided:
        return "is a sparse tensor, not plain dense weights"
    if t.is_quantized:
        return "is a quantized tensor, not floating-point weights"
    if t.is_meta or t.device.type != "cpu":
        return "is a meta tensor, which has a shape but no values"
    if float_only:
        if t.is_complex():
            return f"holds complex numbers ({str(t.dtype).replace('torch.', '')}), not real floating-point weights"
        if t.dtype == torch.bool:
            return "holds true/false values, not floating-point weights"
        if not t.is_floating_point():
            return f"holds whole numbers ({str(t.dtype).replace('torch.', '')}), not floating-point weights"
    # A stride-0 view of a 4-byte storage can claim a billion values; copying it would take 4 GB.
    if t.numel() * t.element_size() > t.untyped_storage().nbytes():
        return f"claims {t.numel():,} values but its data holds only {t.untyped_storage().nbytes():,} bytes"
    return None


# --- the app's metadata ---------------------------------------------------------------------------


def _plain_problem(value: Any, *, allow_tensors: bool, max_nodes: int = _MAX_METADATA_NODES) -> str | None:
    """Why `value` is not a tree of plain values (and tensors if allowed), or None; walks without recursion."""
    todo = [(value, 0)]
    nodes = 0
    while todo:
        item, depth = todo.pop()
        nodes += 1
        if nodes > max_nodes:
            return "it is far too large"
        if depth > _MAX_DEPTH:
            return "it is nested too deeply"
        if item is None or isinstance(item, (bool, int, float, str)):
            continue
        if isinstance(item, torch.Tensor):
            if not allow_tensors:
                return "it holds a tensor where plain values belong"
            problem = _tensor_problem(item, float_only=False)
            if problem:
                return f"a tensor in it {problem}"
            continue
        if isinstance(item, dict):
            for k, v in item.items():
                if not (k is None or isinstance(k, (bool, int, float, str))):
                    return "it has a key that is not plain"
                todo.append((v, depth + 1))
        elif isinstance(item, (list, tuple)):
            todo.extend((v, depth + 1) for v in item)
        else:
            return f"it holds {_describe(item)}"
    return None


def _read_config(raw: Any, architecture: Architecture, notes: list[str]) -> dict | None:
    if raw is None:
        notes.append("it has no stored settings")
        return None
    problem = _plain_problem(raw, allow_tensors=False, max_nodes=10_000)
    if problem is None and not isinstance(raw, dict):
        problem = f"they are {_describe(raw)}, not a dict"
    if problem is None:
        try:
            config = TrainConfig.from_dict(raw).to_dict()
        except (ConfigError, TypeError, ValueError) as exc:
            problem = str(exc)[:200]
    if problem is not None:
        notes.append(f"its stored settings are not valid and were ignored ({problem})")
        return None
    if tuple(config["hidden_sizes"]) != architecture.hidden_sizes:
        notes.append(
            f"its stored settings say hidden sizes {list(config['hidden_sizes'])} but its weights have "
            f"{list(architecture.hidden_sizes)}; the weights' sizes are used"
        )
        config["hidden_sizes"] = list(architecture.hidden_sizes)
    return config


def _read_history(raw: Any, notes: list[str]) -> dict | None:
    if raw is None:
        return None
    problem = _plain_problem(raw, allow_tensors=True) if isinstance(raw, dict) else f"it is {_describe(raw)}, not a dict"
    losses = raw.get("batch_loss", []) if problem is None else None
    epochs = raw.get("epochs", []) if problem is None else None
    if problem is None:
        if isinstance(losses, torch.Tensor):
            if losses.dim() != 1 or not (losses.is_floating_point() or losses.numel() == 0):
                problem = "its batch losses are not a list of numbers"
            else:
                losses = losses.detach().to(torch.float64).numpy()
        elif isinstance(losses, (list, tuple)) and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in losses):
            losses = np.asarray(losses, dtype=np.float64)
        else:
            problem = "its batch losses are not a list of numbers"
    if problem is None and not (isinstance(epochs, list) and all(isinstance(e, dict) for e in epochs)):
        problem = "its epochs are not a list of records"
    if problem is not None:
        notes.append(f"its training history could not be read and was ignored ({problem})")
        return None
    history = {k: v for k, v in raw.items() if k not in ("batch_loss", "epochs")}
    history["batch_loss"] = losses
    history["epochs"] = epochs
    return history


def _read_optimizer_state(raw: Any, notes: list[str]) -> dict | None:
    if raw is None:
        return None
    problem = _plain_problem(raw, allow_tensors=True) if isinstance(raw, dict) else f"it is {_describe(raw)}, not a dict"
    if problem is not None:
        notes.append(f"its optimizer state could not be read and was ignored ({problem})")
        return None
    return raw


def _read_standardizer(raw: Any, inputs: int, notes: list[str]) -> dict | None:
    if raw is None:
        return None
    try:
        if not isinstance(raw, dict) or _plain_problem(raw, allow_tensors=True, max_nodes=100_000):
            raise ValueError
        out = {}
        for key in ("mean", "std"):
            values = raw[key]
            if isinstance(values, torch.Tensor):
                values = values.detach().to(torch.float64).reshape(-1).tolist()
            if not isinstance(values, (list, tuple)) or any(
                isinstance(x, bool) or not isinstance(x, (int, float)) for x in values
            ):
                raise ValueError
            out[key] = [float(x) for x in values]
    except (KeyError, ValueError, TypeError):
        notes.append("its feature standardization could not be read and was ignored")
        return None
    if len(out["mean"]) != inputs or len(out["std"]) != inputs:
        notes.append(
            f"its feature standardization has {len(out['mean'])} values but the model has {inputs} inputs; it was ignored"
        )
        return None
    if not all(math.isfinite(x) for x in out["mean"] + out["std"]) or any(s <= 0 for s in out["std"]):
        notes.append("its feature standardization holds non-finite or non-positive values; it was ignored")
        return None
    return out


def _read_names(raw: Any, expected: int, what: str, unit: str, notes: list[str]) -> list[str] | None:
    if raw is None:
        return None
    if not isinstance(raw, (list, tuple)) or not all(isinstance(x, str) for x in raw):
        notes.append(f"its {what} are not a list of text and were ignored")
        return None
    if len(raw) != expected:
        notes.append(f"it lists {len(raw)} {what} but the model has {expected} {unit}; they were ignored")
        return None
    return list(raw)


# --- small helpers --------------------------------------------------------------------------------


def _mb(n: int) -> str:
    if n >= 1024**3:
        return f"{n / 1024**3:.1f} GB"
    if n >= 1024**2:
        return f"{n / 1024**2:.0f} MB"
    return f"{max(n // 1024, 1)} KB" if n >= 1024 else f"{n} bytes"


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else type(exc).__name__
    return line if len(line) <= 160 else line[:157] + "..."
