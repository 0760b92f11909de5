"""Opening a model file: the security boundary's plain object, read as MLP weights and, for the app's files, their metadata."""

from __future__ import annotations

import dataclasses
import json
import os
import re
from dataclasses import dataclass
from typing import Any, BinaryIO

import torch

import core.checkpoint.app_format as app_format
import core.checkpoint.safetensors_io as safetensors_io
from core.checkpoint.layouts import BOOK_LAYOUT, canonical, check_weights, find_weights
from core.checkpoint.reasons import CHANGED, Refused, identity, open_model_path
from core.checkpoint.safe_pickle import SafeLoad, safe_load_from
from core.errors import ModelFileError
from core.history import History
from core.model import Architecture, NeuralNetwork, architecture_from_state_dict


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """What an opened model file holds, checked and in canonical form."""

    path: str
    format: str  # a person's description of the layout found, e.g. "DDP state_dict (module. prefix)", "safetensors (book layout)"
    state_dict: dict[str, torch.Tensor]  # layers.N.weight/bias, float32, cpu, contiguous
    architecture: Architecture
    activation: str | None  # from the stored config when known
    config: dict | None  # validated through TrainConfig.from_dict (app files, and .safetensors files the app wrote)
    history: History | None  # app files only
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


def load_model_file(path: Any) -> LoadedModel:
    """Open a .pt/.pth or .safetensors file of MLP weights from this app, the book's code or elsewhere.

    Never runs code from the file and never lets a small file take much memory; anything that is
    not plain MLP weights raises ModelFileError with a reason a person understands. A .safetensors
    file is told by its first bytes (or, when they are not torch's, by its name). The path is opened
    once (core.paths' checks) and every reader uses that handle; a file whose size, mtime or ctime
    moved between the first look and the last read is refused, never half-read.
    """
    shown = os.fsdecode(os.fspath(path))
    try:
        f, size = open_model_path(shown)  # the one door: a FIFO or a device is refused before any read
        with f:
            before = identity(f)
            try:
                f.seek(0)
                if _is_safetensors(f.read(9), shown):
                    loaded = _open_safetensors(shown, f, size)
                else:
                    loaded = _interpret(safe_load_from(f, size), shown)
            except Exception:
                if identity(f) != before:  # what failed was a half-written file, not a damaged one
                    raise Refused(CHANGED) from None
                raise
            if identity(f) != before:
                raise Refused(CHANGED)
            return loaded
    except Refused as exc:
        raise ModelFileError(shown, str(exc)) from None
    except MemoryError:
        raise ModelFileError(shown, "there is not enough memory to open it") from None
    except Exception as exc:  # a hostile file must never escape as anything but a refusal
        raise ModelFileError(shown, f"it could not be read: it is damaged or not a model file this app knows ({type(exc).__name__})") from exc


def _interpret(loaded: SafeLoad, path: str) -> LoadedModel:
    obj = loaded.obj
    notes = list(loaded.warnings)
    app_file = app_format.is_app_file(obj)
    if app_file:
        state, _layout = canonical(app_format.app_state_dict(obj))
        description = app_format.DESCRIPTION
    else:
        state, description = find_weights(obj)
    architecture, weights = check_weights(state, notes)
    meta = app_format.read_metadata(obj, architecture, notes) if app_file else app_format.Metadata()
    return _loaded(path, description, weights, architecture, meta, notes)


# --- .safetensors -------------------------------------------------------------------------------


def _is_safetensors(head: bytes, path: str) -> bool:
    """Its first bytes are a safetensors header's, or it is named .safetensors and is not torch's zip or pickle."""
    if safetensors_io.sniff(head):
        return True
    torch_magic = head.startswith(b"PK") or (len(head) >= 2 and head[0] == 0x80)
    return safetensors_io.has_suffix(path) and not torch_magic


def _open_safetensors(path: str, f: BinaryIO, size: int) -> LoadedModel:
    header = safetensors_io.read_header(path, f, size)
    # The architecture and the dtypes are judged on the header alone, so other weights are refused unread.
    shapes, layout = canonical(header.shapes())
    try:
        architecture_from_state_dict(shapes)
    except ValueError as exc:
        raise Refused(f"its weights are not those of an MLP this app can build: {exc}") from None
    problem = header.dtype_problem()
    if problem:
        raise Refused(problem)
    state, _ = canonical(safetensors_io.load_tensors(header, f))
    notes: list[str] = []
    architecture, weights = check_weights(state, notes)
    meta = header.metadata
    if meta.get("format") == app_format.FORMAT:
        description = f"{app_format.DESCRIPTION} (safetensors)"
        metadata = app_format.read_metadata(_app_fields(meta), architecture, notes)
    else:
        description = f"safetensors ({_layout_words(layout)})"
        metadata = app_format.Metadata()
    # A .safetensors file holds no training history or optimizer state, whatever its header says.
    metadata = dataclasses.replace(metadata, history=None, optimizer_state=None)
    return _loaded(path, description, weights, architecture, metadata, notes)


def _loaded(path, description, weights, architecture, meta: app_format.Metadata, notes: list[str]) -> LoadedModel:
    return LoadedModel(
        path=path,
        format=description,
        state_dict=weights,
        architecture=architecture,
        activation=meta.activation,
        config=meta.config,
        history=meta.history,
        optimizer_state=meta.optimizer_state,
        standardizer=meta.standardizer,
        class_names=meta.class_names,
        feature_names=meta.feature_names,
        warnings=tuple(notes),
    )


def _app_fields(meta: dict[str, str]) -> dict[str, Any]:
    """The app's fields in a safetensors header's metadata (JSON strings), as an app .pt file holds them."""
    version = meta.get("version", "")
    if not version.isdigit() or int(version) < 1:
        raise Refused(f"it is a Torch Playground file with an unreadable version ({version[:20]!r})")
    if int(version) > app_format.VERSION:
        raise Refused(
            f"it was saved by a newer Torch Playground (file version {int(version)}); this one reads version {app_format.VERSION}"
        )
    fields: dict[str, Any] = {}
    for key in ("config", "standardizer", "class_names", "feature_names"):
        if key not in meta:
            continue
        try:
            fields[key] = json.loads(meta[key])
        except (ValueError, RecursionError):
            fields[key] = meta[key]  # read_metadata notes it as unreadable and leaves it out
    return fields


def _layout_words(layout: str) -> str:
    """canonical's layout in safetensors' terms: "state_dict (book layout)" -> "book layout",
    "DDP state_dict (module. prefix)" -> "DDP layout, module. prefix"."""
    if layout == BOOK_LAYOUT:
        return "book layout"
    found = re.fullmatch(r"(.*?)\s*state_dict(?: \((.*)\))?", layout)
    if found is None:
        return layout
    kind, detail = found.groups()
    return f"{kind} layout" + (f", {detail}" if detail else "")
