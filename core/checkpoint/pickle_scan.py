"""Reading a pickle without running it: its opcodes modelled on a stack, the globals it names judged against an allowlist.

Part of the security boundary (see safe_pickle.py): nothing here imports, calls or builds anything the
pickle names, and nothing here knows what a model is.
"""

from __future__ import annotations

import _compat_pickle
import pickletools
from typing import Any

import torch

from core.checkpoint.limits import MAX_PICKLE_COST, OPCODE_COST, TOO_COSTLY
from core.checkpoint.reasons import Refused, first_line, first_names

_UNKNOWN = object()  # a value the scan does not model (a dict, the result of a call, ...)
_MARK = pickletools.markobject


class _Global:
    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name


class Scan:
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


def scan_pickle(f: Any, *, first_in_file: bool = False) -> Scan:
    """_scan_one, with unreadable bytes turned into a refusal."""
    try:
        return _scan_one(f)
    except Refused:
        raise
    except Exception as exc:  # genops raises ValueError on bad or missing bytes; the stack may underflow
        if first_in_file:
            raise Refused(
                f"it is not a PyTorch model file: it starts like a pickle but cannot be read ({first_line(exc)})"
            ) from None
        raise Refused(f"it is damaged or was cut short: its pickled structure cannot be read ({first_line(exc)})") from None


def _scan_one(f: Any) -> Scan:
    """Model a pickle's stack, memo and globals from its opcodes; nothing is imported or called."""
    scan = Scan()
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
        scan.cost += OPCODE_COST
        if scan.cost > MAX_PICKLE_COST:
            raise Refused(TOO_COSTLY)
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
    raise Refused("it was cut short: its pickled structure has no end")


def _global_name(module: str, qualname: str) -> str:
    # The same Python 2 renames that pickle and torch's weights-only unpickler apply (__builtin__ -> builtins).
    if (module, qualname) in _compat_pickle.NAME_MAPPING:
        module, qualname = _compat_pickle.NAME_MAPPING[(module, qualname)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    return f"{module}.{qualname}"


def storage_pid(pid: Any, *, legacy: bool) -> tuple[str, str, int]:
    size = 6 if legacy else 5
    if not (isinstance(pid, tuple) and len(pid) == size and pid[0] in ("storage", b"storage")):
        raise Refused("it refers to data in a way torch.save never writes; it is damaged or not a PyTorch file")
    storage_type, key, numel = pid[1], pid[2], pid[4]
    if isinstance(key, bytes):
        key = key.decode("ascii", "replace")
    if not isinstance(storage_type, _Global) or not isinstance(key, str) or isinstance(numel, bool) or not isinstance(numel, int):
        raise Refused("it refers to data in a way torch.save never writes; it is damaged or not a PyTorch file")
    if numel < 0:
        raise Refused(f"it is damaged: storage {key!r} has a negative size")
    return storage_type.name, key, numel


def storage_itemsize(name: str) -> int:
    itemsize = _storage_types().get(name)
    if itemsize is None:
        raise Refused(f"it stores data of a kind this app does not know ({name})")
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


def judge_pickle(scan: Scan) -> None:
    """Refuse, with the most telling reason, any pickle that names a global outside the allowlist."""
    allowed = _SAFE_GLOBALS | set(_storage_types()) | _dtype_names()
    unsafe = list(dict.fromkeys(g for g in scan.globals if g not in allowed))
    if not unsafe:
        if scan.cost > MAX_PICKLE_COST:
            raise Refused(TOO_COSTLY)
        if scan.opcode_protocol > 2:
            # torch.save writes protocol 2; torch's weights-only unpickler reads no opcode newer than that.
            raise Refused(
                f"it was saved with pickle protocol {max(scan.protocol, scan.opcode_protocol)}, which the safe loader "
                "cannot read; re-save it with torch.save's default protocol"
            )
        return
    code = [g for g in unsafe if _is_code(g)]
    if code:
        raise Refused(
            f"it contains code, not just plain weights: opening it would call {first_names(code)}; "
            "it was refused and nothing in it was run"
        )
    modules = [g for g in unsafe if g.startswith("torch.nn.")]
    others = [g for g in unsafe if not g.startswith("torch.")]
    if modules or (scan.module_state and others):
        shown = [g for g in unsafe if not g.startswith(("torch.", "builtins."))] or modules
        raise Refused(
            f"it holds a whole pickled model ({first_names(shown)}), not a state_dict, and nothing in it was run; "
            "save model.state_dict() instead"
        )
    if any(g in _SPARSE_GLOBALS for g in unsafe):
        raise Refused("it holds sparse tensors, not plain dense weights; save them with tensor.to_dense()")
    if any(g in _QUANTIZED_GLOBALS for g in unsafe):
        raise Refused("it holds quantized tensors, not floating-point weights")
    if "torch._utils._rebuild_meta_tensor_no_storage" in unsafe:
        raise Refused("it holds meta tensors, which have a shape but no values")
    if all(g.startswith("torch.") for g in unsafe):
        raise Refused(
            f"it holds special tensors or torch objects ({first_names(unsafe)}) rather than plain weights; nothing in it was run"
        )
    raise Refused(
        f"it contains Python objects that are not plain weights ({first_names(unsafe)}); it was refused and nothing in it was run"
    )
