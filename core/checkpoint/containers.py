"""torch's two file containers checked before torch reads them: the zip format's directory, sizes, CRCs and
storages, and the legacy format's five pickles and raw storage blocks.

Part of the security boundary (see safe_pickle.py): every check here bounds what torch.load will allocate
and proves that the bytes it will read are the bytes that were checked.
"""

from __future__ import annotations

import io
import struct
import zipfile
from typing import BinaryIO

import torch

from core.checkpoint.limits import (
    EXPANSION_FLOOR,
    MAX_EXPANSION,
    MAX_FILE_BYTES,
    MAX_PICKLE_BYTES,
    MAX_PICKLE_COST,
    MAX_ZIP_DIRECTORY_BYTES,
    MIN_VALUE_BYTES,
    TOO_COSTLY,
)
from core.checkpoint.pickle_scan import Scan, judge_pickle, scan_pickle, storage_itemsize, storage_pid
from core.checkpoint.reasons import Refused, check_tensor_bytes, first_line, mb

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
_CHUNK = 1024 * 1024
_LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C  # torch.serialization.MAGIC_NUMBER
_LEGACY_PROTOCOL_VERSION = 1001  # torch.serialization.PROTOCOL_VERSION

# --- torch's zip format ------------------------------------------------------------------------


def check_zip(f: BinaryIO, size: int) -> Scan:
    """Check torch's zip container and scan its data.pkl; the scan records members saved without a CRC."""
    directory_bytes = _zip_directory_bytes(f, size)
    if directory_bytes > MAX_ZIP_DIRECTORY_BYTES:
        raise Refused(f"its zip directory is {mb(directory_bytes)}, far more than a model file needs")
    f.seek(0)
    try:
        zf = zipfile.ZipFile(f)
    except (zipfile.BadZipFile, ValueError, EOFError, OSError, struct.error) as exc:
        raise Refused(f"it is damaged or was cut short: its zip structure cannot be read ({exc})") from None
    infos = zf.infolist()
    names = [i.filename for i in infos]
    if len(set(names)) != len(names):  # which copy a reader takes differs between zip readers
        raise Refused("it is damaged or tampered with: its zip archive lists the same part twice")
    prefix = names[0].split("/", 1)[0] if names else ""
    if not names or not all(n.startswith(prefix + "/") for n in names):
        raise Refused("it is a zip archive, but not a PyTorch model file (torch keeps everything in one folder)")
    inner = {n[len(prefix) + 1 :]: i for n, i in zip(names, infos, strict=True)}
    if "constants.pkl" in inner or any(n.startswith("code/") for n in inner):
        raise Refused(
            "it is a TorchScript archive (torch.jit.save), which holds code; save the weights with "
            "torch.save(model.state_dict(), path) instead"
        )
    if "data.pkl" not in inner:
        raise Refused("it is a zip archive, but not a PyTorch model file (there is no data.pkl inside)")
    total = 0
    for info in infos:
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise Refused(
                f"its part {info.filename!r} uses a zip compression (method {info.compress_type}) that torch cannot read"
            )
        if info.flag_bits & 0x1:
            raise Refused("it is an encrypted zip archive")
        total += info.file_size
    limit = min(max(EXPANSION_FLOOR, MAX_EXPANSION * size), MAX_FILE_BYTES)
    if total > limit:
        raise Refused(
            f"it would expand to {mb(total)} when read although it is {mb(size)} on disk; "
            f"files that expand beyond {mb(limit)} are refused as decompression bombs"
        )
    # Before the CRC pass reads them: the storages' bytes alone already bound what torch would allocate.
    check_tensor_bytes(sum(i.file_size for n, i in inner.items() if n.startswith("data/")))
    if inner["data.pkl"].file_size > MAX_PICKLE_BYTES:
        raise Refused(
            f"its data.pkl is {mb(inner['data.pkl'].file_size)}, far larger than the description of any set of weights"
        )
    unrecorded = _check_crcs(zf, infos)
    pickle_bytes = _torch_data_pkl(f, {k: i.file_size for k, i in inner.items()})
    scan = scan_pickle(io.BytesIO(pickle_bytes))
    scan.unrecorded_crcs = unrecorded
    _check_zip_storages(scan, {k: i.file_size for k, i in inner.items()})
    return scan


def _zip_directory_bytes(f: BinaryIO, size: int) -> int:
    """The central directory's size as the end-of-archive record says, before anything parses it."""
    tail_len = min(size, 22 + 65535)
    f.seek(size - tail_len)
    tail = f.read(tail_len)
    pos = tail.rfind(EMPTY_ZIP_MAGIC)
    if pos < 0 or len(tail) - pos < 22:
        raise Refused("it is damaged or was cut short: the end of its zip structure is missing")
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
            raise Refused(f"it is damaged: its part {info.filename!r} does not match its checksum") from None
        except (EOFError, OSError, ValueError, NotImplementedError, RuntimeError, struct.error) as exc:
            raise Refused(f"it is damaged or was cut short: its part {info.filename!r} cannot be read ({exc})") from None
        except Exception as exc:  # zlib.error and kin: the compressed bytes are corrupt
            raise Refused(f"it is damaged: its part {info.filename!r} cannot be decompressed ({exc})") from None
    return unrecorded


def _torch_data_pkl(f: BinaryIO, python_sizes: dict[str, int]) -> bytes:
    """Ask torch's own zip reader what it sees, so both parsers agree; return data.pkl as torch reads it."""
    f.seek(0)
    try:
        reader = torch._C.PyTorchFileReader(f)
        torch_names = set(reader.get_all_records())
        if torch_names != set(python_sizes):
            raise Refused(
                "its zip structure is inconsistent (torch and Python see different parts): it is damaged or tampered with"
            )
        if hasattr(reader, "get_record_size"):
            for name in torch_names:
                if reader.get_record_size(name) != python_sizes[name]:
                    raise Refused(f"its zip structure is inconsistent for {name!r}: it is damaged or tampered with")
        pickle_bytes = reader.get_record("data.pkl")
    except Refused:
        raise
    except Exception as exc:
        raise Refused(f"it is damaged or not a PyTorch file: torch cannot read its zip structure ({first_line(exc)})") from None
    return bytes(pickle_bytes)


def _check_zip_storages(scan: Scan, sizes: dict[str, int]) -> None:
    declared: dict[str, int] = {}
    as_float32 = 0
    for pid in scan.persistent_ids:
        storage_type, key, numel = storage_pid(pid, legacy=False)
        itemsize = storage_itemsize(storage_type)
        nbytes = numel * itemsize
        if key not in declared:
            as_float32 += numel * max(itemsize, MIN_VALUE_BYTES)
        if declared.setdefault(key, nbytes) != nbytes:
            raise Refused(f"it is damaged: storage {key!r} is declared with two different sizes")
    check_tensor_bytes(as_float32)
    for key, nbytes in declared.items():
        record = f"data/{key}"
        if record not in sizes:
            raise Refused(f"it is damaged or incomplete: the data of storage {key!r} is missing")
        if sizes[record] != nbytes:
            raise Refused(f"it is damaged: storage {key!r} declares {nbytes} bytes but holds {sizes[record]}")


# --- torch's legacy (non-zip) format ---------------------------------------------------------------


def check_legacy(f: BinaryIO, size: int) -> Scan:
    """Walk the five pickles and the raw storage blocks after them, and prove every declared storage is present."""
    f.seek(0)
    reader = _LimitedReader(f, size)
    scans = []
    for index in range(5):
        # Judge each pickle as soon as it is read: a plain pickle of os.system is "code", not "damaged".
        scan = scan_pickle(reader, first_in_file=index == 0)
        judge_pickle(scan)
        if index == 0 and scan.result != _LEGACY_MAGIC_NUMBER:
            raise Refused("it is a Python pickle, but not one written by torch.save")
        if index == 1 and scan.result != _LEGACY_PROTOCOL_VERSION:
            raise Refused("it is damaged or from an unknown PyTorch version: its format number is not torch's")
        scans.append(scan)
    main, keys = scans[3], scans[4]
    main.cost = sum(s.cost for s in scans)
    main.persistent_ids = [pid for s in scans for pid in s.persistent_ids]
    if main.cost > MAX_PICKLE_COST:
        raise Refused(TOO_COSTLY)
    storage_keys = keys.result
    if not isinstance(storage_keys, list) or not all(isinstance(k, str) for k in storage_keys):
        raise Refused("it is damaged: the list of its storages cannot be read")
    declared: dict[str, tuple[int, int]] = {}
    for pid in main.persistent_ids:
        storage_type, key, numel = storage_pid(pid, legacy=True)
        item = (numel, storage_itemsize(storage_type))
        if declared.setdefault(key, item) != item:
            raise Refused(f"it is damaged: storage {key!r} is declared with two different sizes")
    if set(declared) != set(storage_keys) or len(storage_keys) != len(set(storage_keys)):
        raise Refused("it is damaged: the storages it declares and the storages it holds differ")
    pos = reader.tell()
    declared_bytes = sum(numel * itemsize for numel, itemsize in declared.values())
    check_tensor_bytes(sum(numel * max(itemsize, MIN_VALUE_BYTES) for numel, itemsize in declared.values()))
    if pos + declared_bytes > size:  # every declared byte must be in the file, so the file's size bounds the memory
        raise Refused(
            f"it declares {mb(declared_bytes)} of weights but holds only {mb(size - pos)} of data: "
            "it was cut short or is damaged"
        )
    for key in storage_keys:
        numel, itemsize = declared[key]
        f.seek(pos)
        raw = f.read(8)
        if len(raw) < 8:
            raise Refused("it was cut short: the data of its weights ends early")
        (count,) = struct.unpack("<q", raw)
        if count != numel:
            raise Refused(f"it is damaged: storage {key!r} declares {numel} values but holds {count}")
        pos += 8 + count * itemsize
        if pos > size:
            raise Refused("it was cut short: the data of its weights ends early")
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

