"""Writing model files: atomically (a temporary file, fsync, os.replace), as the app's own format, a bare
state_dict, or a .safetensors file of the weights and settings."""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import torch

import core.checkpoint.app_format as app_format
import core.checkpoint.safetensors_io as safetensors_io
from core.atomic import atomic_write
from core.checkpoint.reasons import os_reason
from core.errors import ModelFileError
from core.history import History

if TYPE_CHECKING:
    from core.training import Trainer


def atomic_torch_save(obj: Any, path: Any) -> None:
    """torch.save to a temporary file in the same folder, flush, fsync, then os.replace.

    On any failure the temporary file is removed and the file that was at `path` is untouched;
    a save stopped by SIGTERM (under core.temp_files.terminate_cleanly) or Ctrl+C leaves nothing, one killed
    outright (SIGKILL, a power cut) at most a hidden `.NAME.*.tmp` beside it, never a half-written `path`.
    """
    atomic_write(path, lambda f: torch.save(obj, f))



def save_model_file(
    path: Any,
    *,
    model_state: Mapping[str, torch.Tensor],
    config: Any,
    history: History | Mapping[str, Any] | None = None,
    optimizer_state: Mapping[str, Any] | None = None,
    standardizer: Mapping[str, Any] | None = None,
    class_names: list[str] | None = None,
    feature_names: list[str] | None = None,
) -> None:
    """Write the app's own model file atomically; plain values only, every tensor moved to the cpu.

    `config` is a TrainConfig or its dict; `history` a History (or its `to_dict()` form), stored as
    one float64 tensor of batch losses and a list of epoch dicts. `trainer_fields(trainer)` gives
    every argument but `path` for a trainer. Raises ModelFileError when the file cannot be written
    and ValueError when an argument is not what a model file can hold.

    A path ending in `.safetensors` gets that format instead (see `export_safetensors`): the weights, the
    settings, the standardizer and the names, but neither the history nor the optimizer state.
    """
    if safetensors_io.has_suffix(path):
        export_safetensors(
            path,
            model_state,
            config=config,
            standardizer=standardizer,
            class_names=class_names,
            feature_names=feature_names,
        )
        return
    state = cpu_state_dict(model_state)
    obj = app_format.payload(
        state,
        config=config,
        history=history,
        optimizer_state=optimizer_state,
        standardizer=standardizer,
        class_names=class_names,
        feature_names=feature_names,
    )
    _save_or_explain(obj, path)


def trainer_fields(trainer: Trainer) -> dict[str, Any]:
    """The keyword arguments of `save_model_file` for a trainer: `save_model_file(path, **trainer_fields(t))`.

    The weights are copied now; the history and the optimizer state are the trainer's own (save_model_file
    copies them as it writes), so take and use these while the trainer is not training.
    """
    data = trainer.data
    return {
        "model_state": trainer.state_dict_cpu(),
        "config": trainer.cfg,
        "history": trainer.history,
        "optimizer_state": trainer.optimizer.state_dict(),
        "standardizer": data.standardizer.to_dict() if data.standardizer is not None else None,
        "class_names": list(data.class_names),
        "feature_names": list(data.feature_names),
    }


def export_state_dict(path: Any, model_state: Mapping[str, torch.Tensor]) -> None:
    """Write a bare state_dict: what the book's `torch.save(model.state_dict(), path)` writes, on the cpu.

    A path ending in `.safetensors` gets the same weights and keys in that format (`export_safetensors`).
    """
    if safetensors_io.has_suffix(path):
        export_safetensors(path, model_state)
        return
    # Always a plain OrderedDict, as nn.Module.state_dict() returns: a subclass would be pickled by name.
    _save_or_explain(cpu_state_dict(model_state), path)


def export_safetensors(
    path: Any,
    model_state: Mapping[str, torch.Tensor],
    *,
    config: Any = None,
    standardizer: Mapping[str, Any] | None = None,
    class_names: list[str] | None = None,
    feature_names: list[str] | None = None,
) -> None:
    """Write the weights as a .safetensors file atomically: the same keys as the state_dict (the book's
    `layers.N.weight/bias`), no pickle.

    With no settings the header's `__metadata__` is `{"format": "pt"}`, as Hugging Face writes; otherwise it is
    `{"format": "torch-playground", "version": "1"}` plus each of `config` (a TrainConfig or its dict),
    `standardizer`, `class_names` and `feature_names` that is given, as a JSON string (the format's metadata is
    text only). Raises ModelFileError when the file cannot be written and ValueError when an argument is not
    what a model file can hold.
    """
    state = cpu_state_dict(model_state)
    extras = {"config": config, "standardizer": standardizer, "class_names": class_names, "feature_names": feature_names}
    metadata = {"format": "pt"}
    if any(value is not None for value in extras.values()):
        # app_format.payload checks the weights are an MLP's and turns each field into plain values, as for a .pt.
        plain = app_format.payload(state, history=None, optimizer_state=None, **extras)
        metadata = {"format": app_format.FORMAT, "version": str(app_format.VERSION)}
        for key in extras:
            if plain[key] is not None:
                metadata[key] = json.dumps(plain[key], allow_nan=False)
    data = safetensors_io.to_bytes(state, metadata)
    try:
        atomic_write(path, lambda f: f.write(data))
    except OSError as exc:
        raise ModelFileError(path, os_reason(exc), action="save") from exc


def _save_or_explain(obj: Any, path: Any) -> None:
    try:
        atomic_torch_save(obj, path)
    except OSError as exc:
        raise ModelFileError(path, os_reason(exc), action="save") from exc



def cpu_state_dict(model_state: Mapping[str, torch.Tensor]) -> OrderedDict:
    """A plain OrderedDict of detached cpu copies (with nn.Module's _metadata), checked to map names to tensors."""
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

