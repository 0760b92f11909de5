"""The app's own model file: the FORMAT/VERSION header, and its metadata (TrainConfig, History, Standardizer,
class and feature names) written as plain values and read back field by field.

A field that cannot be read is ignored with a note, never fatal: the weights are what matter.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from core.checkpoint.layouts import tensor_problem
from core.checkpoint.limits import FLOAT32_MAX, MAX_DEPTH, MAX_METADATA_NODES, MIN_STANDARDIZER_STD
from core.checkpoint.reasons import Refused, describe
from core.config import ConfigError, TrainConfig
from core.events import EpochEnd
from core.history import History
from core.model import Architecture, ArchitectureError, architecture_from_state_dict

FORMAT = "torch-playground"
VERSION = 1
DESCRIPTION = "Torch Playground model"

# EpochEnd's fields as a file stores them: "count" a whole number, "number" any real number, "optional"
# a number or None (no test split).
_EPOCH_FIELDS = {
    "epoch": "count", "step": "count", "train_loss": "number", "test_loss": "optional",
    "train_accuracy": "number", "test_accuracy": "optional", "elapsed": "number",
}  # fmt: skip


@dataclass(frozen=True)
class Metadata:
    """What an app file holds besides its weights, each field None when absent or unreadable."""

    config: dict | None = None  # validated through TrainConfig.from_dict
    activation: str | None = None  # the config's, when there is one
    history: History | None = None
    optimizer_state: dict | None = None
    standardizer: dict | None = None  # {"mean": [...], "std": [...]}
    class_names: list[str] | None = None
    feature_names: list[str] | None = None


# --- writing -----------------------------------------------------------------------------------------


def payload(
    state: Mapping[str, torch.Tensor],
    *,
    config: Any,
    history: History | Mapping[str, Any] | None,
    optimizer_state: Mapping[str, Any] | None,
    standardizer: Mapping[str, Any] | None,
    class_names: Any,
    feature_names: Any,
) -> dict:
    """The dict the app's file holds, of plain values only; `state` is the weights' cpu copy.

    Raises ValueError when an argument is not what a model file can hold.
    """
    try:
        architecture_from_state_dict(state)
    except ArchitectureError as exc:
        raise ValueError(f"model_state is not the weights of an MLP: {exc}") from None
    if isinstance(config, TrainConfig):
        config = config.to_dict()
    return {
        "format": FORMAT,
        "version": VERSION,
        "model_state_dict": state,
        "config": _json_plain(config, "config"),
        "history": history_payload(history),
        "optimizer_state_dict": None if optimizer_state is None else _cpu_tree(optimizer_state, "optimizer_state"),
        "standardizer": _standardizer_for_save(standardizer),
        "class_names": _names_for_save(class_names, "class_names"),
        "feature_names": _names_for_save(feature_names, "feature_names"),
    }


def history_payload(history: History | Mapping[str, Any] | None) -> dict | None:
    """A History as the file stores it: `batch_loss` as one float64 tensor (a million losses take 8 MB,
    not the ~30 MB of a pickled list of floats) and `epochs` as a list of dicts.

    The plain dict form (`History.to_dict()`'s) is accepted too, and checked as a file's would be.
    """
    if history is None:
        return None
    if not isinstance(history, History):
        if not isinstance(history, Mapping):
            raise ValueError(f"history must be a History, got {type(history).__name__}")
        try:
            history = history_from_plain(history)
        except ValueError as exc:
            raise ValueError(f"history cannot be stored: {exc}") from None
    return {
        "batch_loss": torch.from_numpy(history.losses()),  # losses() is a copy: the tensor owns its values
        "epochs": _json_plain([asdict(e) for e in history.epochs], "history"),
    }


def _cpu_tree(value: Any, where: str, depth: int = 0) -> Any:
    """A copy of an optimizer state with tensors detached, cloned and on the cpu; plain values only."""
    if depth > MAX_DEPTH:
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


# --- reading -------------------------------------------------------------------------------------------


def is_app_file(obj: Any) -> bool:
    return isinstance(obj, dict) and obj.get("format") == FORMAT


def app_state_dict(obj: dict) -> dict:
    """An app file's raw state_dict, after checking that this version of the app can read the file."""
    version = obj.get("version")
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise Refused(f"it is a Torch Playground file with an unreadable version ({describe(version)})")
    if version > VERSION:
        raise Refused(f"it was saved by a newer Torch Playground (file version {version}); this one reads version {VERSION}")
    raw = obj.get("model_state_dict")
    if not isinstance(raw, dict):
        raise Refused(f"it is a Torch Playground file, but its model_state_dict is {describe(raw)}, not weights")
    return raw


def read_metadata(obj: dict, architecture: Architecture, notes: list[str]) -> Metadata:
    """Every metadata field of an app file, each checked on its own; what cannot be used is noted and left out."""
    config = _read_config(obj.get("config"), architecture, notes)
    return Metadata(
        config=config,
        activation=config["activation"] if config else None,
        history=_read_history(obj.get("history"), notes),
        optimizer_state=_read_optimizer_state(obj.get("optimizer_state_dict"), notes),
        standardizer=_read_standardizer(obj.get("standardizer"), architecture.inputs, notes),
        class_names=_read_names(obj.get("class_names"), architecture.outputs, "class names", "outputs", notes),
        feature_names=_read_names(obj.get("feature_names"), architecture.inputs, "feature names", "inputs", notes),
    )


def history_from_plain(raw: Mapping[str, Any]) -> History:
    """The History in a plain dict (`batch_loss`: numbers, `epochs`: EpochEnd records as dicts).

    Raises ValueError saying which part is not what a History holds.
    """
    losses = _losses(raw.get("batch_loss", []))
    epochs = raw.get("epochs", [])
    if not isinstance(epochs, (list, tuple)):
        raise ValueError("its epochs are not a list of records")
    history = History(epochs=[_epoch(e) for e in epochs])
    history.batch_loss.frombytes(losses.tobytes())  # one copy, not a Python float per loss
    return history


def _losses(value: Any) -> np.ndarray:
    problem = "its batch losses are not a list of numbers"
    if isinstance(value, torch.Tensor):
        if value.dim() != 1 or not (value.is_floating_point() or value.numel() == 0):
            raise ValueError(problem)
        return value.detach().to("cpu", torch.float64).numpy()
    if isinstance(value, np.ndarray):
        if value.ndim != 1 or value.dtype.kind not in "fiu":
            raise ValueError(problem)
        return np.ascontiguousarray(value, dtype=np.float64)
    if isinstance(value, (list, tuple)) and all(isinstance(x, numbers.Real) and not isinstance(x, bool) for x in value):
        try:
            return np.asarray(value, dtype=np.float64).reshape(-1)
        except OverflowError:  # an integer beyond float64
            raise ValueError(problem) from None
    raise ValueError(problem)


def _epoch(record: Any) -> EpochEnd:
    if isinstance(record, EpochEnd):
        return record
    if not isinstance(record, Mapping):
        raise ValueError("its epochs are not a list of records")
    values: dict[str, Any] = {}
    for name, kind in _EPOCH_FIELDS.items():
        if name not in record:
            raise ValueError(f"an epoch record has no {name!r}")
        value = record[name]
        if kind == "optional" and value is None:
            values[name] = None
        elif kind == "count" and isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            values[name] = value
        elif kind != "count" and isinstance(value, numbers.Real) and not isinstance(value, bool):
            try:
                values[name] = float(value)
            except OverflowError:
                raise ValueError(f"an epoch record's {name!r} is too large") from None
        else:
            raise ValueError(f"an epoch record's {name!r} is not {'a whole number' if kind == 'count' else 'a number'}")
    return EpochEnd(**values)


def _read_history(raw: Any, notes: list[str]) -> History | None:
    if raw is None:
        return None
    problem = _plain_problem(raw, allow_tensors=True) if isinstance(raw, dict) else f"it is {describe(raw)}, not a dict"
    if problem is None:
        try:
            return history_from_plain(raw)
        except ValueError as exc:
            problem = str(exc)
    notes.append(f"its training history could not be read and was ignored ({problem})")
    return None


def _plain_problem(value: Any, *, allow_tensors: bool, max_nodes: int = MAX_METADATA_NODES) -> str | None:
    """Why `value` is not a tree of plain values (and tensors if allowed), or None; walks without recursion."""
    todo = [(value, 0)]
    nodes = 0
    while todo:
        item, depth = todo.pop()
        nodes += 1
        if nodes > max_nodes:
            return "it is far too large"
        if depth > MAX_DEPTH:
            return "it is nested too deeply"
        if item is None or isinstance(item, (bool, int, float, str)):
            continue
        if isinstance(item, torch.Tensor):
            if not allow_tensors:
                return "it holds a tensor where plain values belong"
            problem = tensor_problem(item, float_only=False)
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
            return f"it holds {describe(item)}"
    return None


def _read_config(raw: Any, architecture: Architecture, notes: list[str]) -> dict | None:
    if raw is None:
        notes.append("it has no stored settings")
        return None
    problem = _plain_problem(raw, allow_tensors=False, max_nodes=10_000)
    if problem is None and not isinstance(raw, dict):
        problem = f"they are {describe(raw)}, not a dict"
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


def _read_optimizer_state(raw: Any, notes: list[str]) -> dict | None:
    if raw is None:
        return None
    problem = _plain_problem(raw, allow_tensors=True) if isinstance(raw, dict) else f"it is {describe(raw)}, not a dict"
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
    # Refused, not ignored: without its standardization the model would be fed raw features and
    # answer confidently wrong, and with it every prediction would be inf/NaN.
    for key in ("mean", "std"):
        for i, x in enumerate(out[key], start=1):
            if not math.isfinite(x) or abs(x) > FLOAT32_MAX:
                raise Refused(
                    f"its feature standardization's {key} for feature {i} is {x:g}, beyond float32's range, "
                    "so every prediction would be inf/NaN"
                )
    for i, x in enumerate(out["std"], start=1):
        if x < MIN_STANDARDIZER_STD:
            raise Refused(
                f"its feature standardization's std for feature {i} is {x:g}, below {MIN_STANDARDIZER_STD:g}: "
                "dividing by it would blow every input up to inf/NaN (the app gives a constant feature std 1, "
                "so the file is damaged or was not written by this app)"
            )
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
