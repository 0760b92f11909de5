"""Builders of hostile and broken model files: each `make_<kind>(path)` writes one that must be refused.

`HOSTILE` maps a short name to its builder so any test (checkpoint, CLI, GUI) can loop over all of
them; every file it builds must make `core.checkpoint.load_model_file` raise `ModelFileError`.
Builders that embed code make it create `marker_path(path)` if it ever runs; nothing here runs it.
Most files are genuine `torch.save` output; the rest are written by hand, opcode by opcode, with
the helpers at the bottom, so that they are exactly what torch would read.
"""

from __future__ import annotations

import builtins
import io
import os
import pickle
import random
import struct
import warnings
import zipfile
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import torch

from core.checkpoint import FORMAT, MAX_FILE_BYTES, VERSION

# --- payloads that would run code ---------------------------------------------------------------


def marker_path(path: Any) -> str:
    """The file a code payload in the file built at `path` creates if it is ever run."""
    return os.fspath(path) + ".ran"


class _OsSystem:
    """Unpickles as os.system('touch MARKER') (posix.system / nt.system in the pickle)."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch "{self.marker}"',))


class _Eval:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.eval, (f"open({self.marker!r}, 'w').close()",))


class _Exec:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.exec, (f"open({self.marker!r}, 'w').close()",))


class _Open:
    """Unpickles as builtins.open(MARKER, 'w'): creating the file is the proof it ran."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):
        return (builtins.open, (self.marker, "w"))


# --- valid pieces --------------------------------------------------------------------------------


def mlp_state(inputs: int = 2, hidden: tuple[int, ...] = (3,), outputs: int = 2, seed: int = 0) -> OrderedDict:
    """A small state_dict with the book's keys (layers.0.weight, ...)."""
    gen = torch.Generator().manual_seed(seed)
    sizes = [inputs, *hidden, outputs]
    state: OrderedDict = OrderedDict()
    for n, (a, b) in enumerate(zip(sizes[:-1], sizes[1:], strict=True)):
        state[f"layers.{2 * n}.weight"] = torch.randn(b, a, generator=gen)
        state[f"layers.{2 * n}.bias"] = torch.randn(b, generator=gen)
    return state


def app_payload(**changes: Any) -> dict:
    """The dict an app file holds, with plain values; `changes` replace or add keys."""
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "model_state_dict": mlp_state(),
        "config": {"hidden_sizes": [3]},
        "history": {"batch_loss": torch.tensor([0.75, 0.65], dtype=torch.float64), "epochs": []},
        "optimizer_state_dict": None,
        "standardizer": None,
        "class_names": None,
        "feature_names": None,
    }
    payload.update(changes)
    return payload


# --- code that must never run --------------------------------------------------------------------


def make_code_zip_os_system(path: Any) -> None:
    """torch's zip format; a state_dict whose extra entry calls os.system."""
    state = OrderedDict(payload=_OsSystem(marker_path(path)), **mlp_state())
    torch.save(state, path)


def make_code_legacy_os_system(path: Any) -> None:
    """torch's legacy (non-zip) format with the same os.system payload."""
    state = OrderedDict(payload=_OsSystem(marker_path(path)), **mlp_state())
    torch.save(state, path, _use_new_zipfile_serialization=False)


def make_code_zip_eval(path: Any) -> None:
    torch.save({"payload": _Eval(marker_path(path)), **mlp_state()}, path)


def make_code_legacy_exec(path: Any) -> None:
    torch.save({"payload": _Exec(marker_path(path)), **mlp_state()}, path, _use_new_zipfile_serialization=False)


def make_code_in_config(path: Any) -> None:
    """An otherwise valid app file whose stored config hides builtins.open(...)."""
    config = {"hidden_sizes": [3], "dataset": {"name": "moons", "path": _Open(marker_path(path))}}
    torch.save(app_payload(config=config), path)


def make_code_in_history(path: Any) -> None:
    """An otherwise valid app file, legacy format, whose history's epoch records hide builtins.exec."""
    history = {"batch_loss": torch.tensor([0.5], dtype=torch.float64), "epochs": [{"epoch": 1, "note": _Exec(marker_path(path))}]}
    torch.save(app_payload(history=history), path, _use_new_zipfile_serialization=False)


def make_code_protocol4(path: Any) -> None:
    """Protocol 4 names globals with STACK_GLOBAL (module and name pushed as strings) instead of GLOBAL."""
    torch.save({"payload": _OsSystem(marker_path(path)), **mlp_state()}, path, pickle_protocol=4)


def make_code_plain_pickle(path: Any) -> None:
    """Not a torch file at all: a bare pickle that calls builtins.open when loaded."""
    with open(path, "wb") as f:
        pickle.dump(_Open(marker_path(path)), f, protocol=2)


CODE_RUNNING = (
    "code_zip_os_system",
    "code_legacy_os_system",
    "code_zip_eval",
    "code_legacy_exec",
    "code_in_config",
    "code_in_history",
    "code_protocol4",
    "code_plain_pickle",
)


# --- whole models and other things that are not a state_dict -----------------------------------


def make_whole_model_zip(path: Any) -> None:
    """torch.save(model): the classes are pickled by name, and loading them would import and run code."""
    from core.model import NeuralNetwork

    torch.save(NeuralNetwork(2, 2, (3,)), path)


def make_whole_model_legacy(path: Any) -> None:
    from core.model import NeuralNetwork

    torch.save(NeuralNetwork(2, 2, (3,)), path, _use_new_zipfile_serialization=False)


def make_torchscript(path: Any) -> None:
    from core.model import NeuralNetwork

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit is deprecated in recent releases
        torch.jit.save(torch.jit.script(NeuralNetwork(2, 2, (3,))), path)


def make_holds_list(path: Any) -> None:
    torch.save([torch.zeros(2), torch.zeros(3)], path)


def make_holds_tensor(path: Any) -> None:
    torch.save(torch.zeros(3, 2), path)


def make_holds_strings(path: Any) -> None:
    torch.save({"name": "my model", "author": "me"}, path)


def make_holds_empty_dict(path: Any) -> None:
    torch.save({}, path)


def make_newer_version(path: Any) -> None:
    torch.save(app_payload(version=VERSION + 1), path)


def make_pickle_protocol4(path: Any) -> None:
    """Genuine weights saved with pickle_protocol=4, whose opcodes torch's safe unpickler cannot read."""
    torch.save(mlp_state(), path, pickle_protocol=4)


def make_deeply_nested(path: Any) -> None:
    """A list nested 100,000 deep (200 KB): anything that recursed over it would crash."""
    depth = 100_000
    _write_torch_zip(path, b"\x80\x02" + b"]" * (depth + 1) + b"a" * depth + b".", {})


# --- damaged, cut short, or not a model file -------------------------------------------------------


def make_empty(path: Any) -> None:
    open(path, "wb").close()


def make_missing(path: Any) -> None:
    if os.path.exists(path):
        os.remove(path)


def make_directory(path: Any) -> None:
    os.makedirs(path, exist_ok=True)


def make_truncated_zip(path: Any) -> None:
    """A valid model file cut in half, as an interrupted download or copy leaves it."""
    buf = io.BytesIO()
    torch.save(app_payload(), buf)
    data = buf.getvalue()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def make_truncated_legacy(path: Any) -> None:
    buf = io.BytesIO()
    torch.save(mlp_state(hidden=(30, 20)), buf, _use_new_zipfile_serialization=False)
    data = buf.getvalue()
    with open(path, "wb") as f:
        f.write(data[: len(data) // 2])


def make_random_bytes(path: Any) -> None:
    with open(path, "wb") as f:
        f.write(random.Random(1234).randbytes(4096))


def make_text(path: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("epoch,batch,step,loss\n1,1,1,0.75\n1,2,2,0.65\n")


def make_html_page(path: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("<!DOCTYPE html>\n<html><head><title>Download</title></head><body>Sign in</body></html>\n")


def make_lfs_pointer(path: Any) -> None:
    with open(path, "w", encoding="utf-8") as f:
        f.write("version https://git-lfs.github.com/spec/v1\noid sha256:" + "0" * 64 + "\nsize 12345\n")


def make_zip_without_data_pkl(path: Any) -> None:
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/readme.txt", "not a model")
        zf.writestr("archive/data/0", bytes(24))


def make_zip_duplicate_member(path: Any) -> None:
    """data.pkl listed twice: Python's zipfile takes the last copy, other readers may take the first."""
    buf = io.BytesIO()
    torch.save(mlp_state(), buf)
    buf.seek(0)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w") as out, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # zipfile warns about the duplicate name it is asked to write
        for info in src.infolist():
            out.writestr(info, src.read(info.filename))
            if info.filename.endswith("/data.pkl"):
                out.writestr(info, pickle.dumps([1, 2, 3], protocol=2))


def make_flipped_byte(path: Any) -> None:
    """One bit flipped inside a weight's bytes: torch does not check CRCs and would load it silently."""
    torch.save(mlp_state(), path)
    with zipfile.ZipFile(path) as zf:
        info = next(i for i in zf.infolist() if i.filename.endswith("/data/0"))
    with open(path, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", f.read(4))
        offset = info.header_offset + 30 + name_len + extra_len + 5
        f.seek(offset)
        byte = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([byte ^ 0x10]))


# --- weights that are not plain finite floats of an MLP --------------------------------------------


def _state_with(key: str, value: torch.Tensor) -> OrderedDict:
    state = mlp_state()
    state[key] = value
    return state


def make_nan_weights(path: Any) -> None:
    torch.save(_state_with("layers.0.weight", torch.tensor([[0.1, float("nan")]] * 3)), path)


def make_inf_weights(path: Any) -> None:
    torch.save(_state_with("layers.2.bias", torch.tensor([float("inf"), 0.0])), path)


def make_int_weights(path: Any) -> None:
    torch.save(OrderedDict((k, v.round().long()) for k, v in mlp_state().items()), path)


def make_bool_weights(path: Any) -> None:
    torch.save(_state_with("layers.0.bias", torch.tensor([True, False, True])), path)


def make_complex_weights(path: Any) -> None:
    torch.save(_state_with("layers.0.weight", torch.randn(3, 2, dtype=torch.complex64)), path)


def make_sparse_weights(path: Any) -> None:
    torch.save(_state_with("layers.0.weight", torch.randn(3, 2).to_sparse()), path)


def make_quantized_weights(path: Any) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # quantized tensors are deprecated in recent releases
        weight = torch.quantize_per_tensor(torch.randn(3, 2), 0.1, 0, torch.qint8)
    torch.save(_state_with("layers.0.weight", weight), path)


def make_meta_weights(path: Any) -> None:
    torch.save(_state_with("layers.0.weight", torch.empty(3, 2, device="meta")), path)


def make_not_mlp(path: Any) -> None:
    """A small CNN's weights: a 4-D convolution kernel is no Linear layer."""
    torch.save(OrderedDict([("conv.weight", torch.randn(4, 1, 3, 3)), ("conv.bias", torch.randn(4))]), path)


def make_shapes_dont_chain(path: Any) -> None:
    """layers.2 expects 31 inputs but layers.0 gives 30."""
    state = mlp_state(hidden=(30, 20))
    state["layers.2.weight"] = torch.randn(20, 31)
    torch.save(state, path)


def make_expanded_tensor(path: Any) -> None:
    """A stride-0 view: 4 bytes of data that claim a billion values (4 GB once copied)."""
    storage = _Storage("0", 1)
    state = {"layers.0.weight": _Tensor(storage, (100_000, 10_000), (0, 0)), "layers.0.bias": _Tensor(storage, (100_000,), (0,))}
    _write_torch_zip(path, _torch_pickle(state), {"0": struct.pack("<f", 0.5)})


# --- files that would cost far more memory than their size -----------------------------------------


def make_zip_bomb(path: Any) -> None:
    """256 MB of zeros deflated to ~250 KB: torch's zip reader would inflate it all into memory."""
    numel = 64 * 1024**2
    storage = _Storage("0", numel)
    state = {"layers.0.weight": _Tensor(storage, (numel // 2, 2), (2, 1)), "layers.0.bias": _Tensor(storage, (numel // 2,), (1,))}
    _write_torch_zip(path, _torch_pickle(state), {"0": lambda out: _write_zeros(out, numel * 4)}, deflate=True)


def make_zip_size_mismatch(path: Any) -> None:
    """The pickle declares a 400 MB storage; the zip holds 24 bytes of it."""
    storage = _Storage("0", 100_000_000)
    state = {"layers.0.weight": _Tensor(storage, (3, 2), (2, 1))}
    _write_torch_zip(path, _torch_pickle(state), {"0": bytes(24)})


def make_legacy_huge_storage(path: Any) -> None:
    """Legacy format, ~1 KB on disk, declaring a 400 MB storage: torch allocates what the pickle declares."""
    numel = 100_000_000
    storage = _Storage("0", numel)
    state = {"layers.0.weight": _Tensor(storage, (numel // 2, 2), (2, 1)), "layers.0.bias": _Tensor(storage, (numel // 2,), (1,))}
    out = io.BytesIO()
    for header in (torch.serialization.MAGIC_NUMBER, torch.serialization.PROTOCOL_VERSION, {"little_endian": True}):
        pickle.dump(header, out, protocol=2)
    out.write(_torch_pickle(state, legacy=True))
    pickle.dump(["0"], out, protocol=2)
    out.write(struct.pack("<q", numel) + bytes(64))  # the block's header claims it all; the bytes are not there
    with open(path, "wb") as f:
        f.write(out.getvalue())


def make_bytearray_bomb(path: Any) -> None:
    """40 bytes of pickle that torch's weights-only unpickler allows: bytearray(2**31 - 1) allocates 2 GB."""
    pkl = b"\x80\x02c__builtin__\nbytearray\nJ" + struct.pack("<i", 2**31 - 1) + b"\x85R."
    _write_torch_zip(path, pkl, {})


def make_many_objects(path: Any) -> None:
    """2 MB of pickle that builds two million empty dicts (~130 MB of Python objects)."""
    _write_torch_zip(path, b"\x80\x02(" + b"}" * 2_000_000 + b"l.", {})


def make_huge_file(path: Any) -> None:
    """Larger than the 2 GB limit; sparse, so it takes no disk space."""
    with open(path, "wb") as f:
        f.write(b"PK\x03\x04")
        f.truncate(MAX_FILE_BYTES + 1)


HOSTILE: dict[str, Callable[[Any], None]] = {
    name[len("make_") :]: builder
    for name, builder in sorted(globals().items())
    if name.startswith("make_") and callable(builder) and name not in ("make_gpu_saved",)
}

# Files whose refusal must also keep memory low: what torch would allocate for each is in its docstring.
MEMORY_HOSTILE = ("zip_bomb", "zip_size_mismatch", "legacy_huge_storage", "bytearray_bomb", "many_objects", "expanded_tensor")


# --- not hostile: a file as a GPU machine writes it ---------------------------------------------------


def make_gpu_saved(path: Any) -> None:
    """An app-layout state_dict whose storages are recorded on "cuda:0", as torch.save on a GPU writes.

    Made on any machine by saving on the cpu and renaming the location in data.pkl ('cpu' -> 'cuda:0',
    with the string's length prefix fixed); torch.load without map_location then needs CUDA.
    """
    buf = io.BytesIO()
    torch.save(mlp_state(), buf)
    buf.seek(0)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, "w") as out:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename.endswith("/data.pkl"):
                data = data.replace(b"X\x03\x00\x00\x00cpu", b"X\x06\x00\x00\x00cuda:0")
            out.writestr(info, data)


# --- writing torch files by hand -------------------------------------------------------------------


class _Storage:
    """Pickled as torch's persistent id for a storage: ('storage', torch.FloatStorage, key, 'cpu', numel)."""

    def __init__(self, key: str, numel: int) -> None:
        self.key, self.numel = key, numel


class _Tensor:
    """Pickled as torch._utils._rebuild_tensor_v2(storage, 0, size, stride, False, OrderedDict())."""

    def __init__(self, storage: _Storage, size: tuple[int, ...], stride: tuple[int, ...]) -> None:
        self.args = (storage, 0, size, stride, False, OrderedDict())

    def __reduce__(self):
        return (torch._utils._rebuild_tensor_v2, self.args)


class _TorchPickler(pickle.Pickler):
    legacy = False

    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, _Storage):
            pid = ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
            return pid + (None,) if self.legacy else pid
        return None


def _torch_pickle(obj: Any, *, legacy: bool = False) -> bytes:
    buf = io.BytesIO()
    pickler = _TorchPickler(buf, protocol=2)
    pickler.legacy = legacy
    pickler.dump(obj)
    return buf.getvalue()


def _write_zeros(out: Any, nbytes: int) -> None:
    chunk = bytes(1024 * 1024)
    for start in range(0, nbytes, len(chunk)):
        out.write(chunk[: nbytes - start])


def _write_torch_zip(path: Any, data_pkl: bytes, storages: dict[str, Any], *, deflate: bool = False) -> None:
    """A zip laid out as torch.save lays it out; storages map key -> bytes or a writer function."""
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("archive/data.pkl", data_pkl)
        zf.writestr("archive/byteorder", "little")
        for key, data in storages.items():
            info = zipfile.ZipInfo(f"archive/data/{key}")
            info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
            with zf.open(info, "w", force_zip64=True) as member:
                if callable(data):
                    data(member)
                else:
                    member.write(data)
        zf.writestr("archive/version", "3\n")
