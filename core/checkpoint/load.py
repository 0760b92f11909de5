"""Opening a model file: the security boundary's plain object, read as MLP weights and, for the app's files, their metadata."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import torch

from core.checkpoint import app_format
from core.checkpoint.layouts import canonical, check_weights, find_weights
from core.checkpoint.reasons import Refused, first_line
from core.checkpoint.safe_pickle import SafeLoad, safe_load
from core.errors import ModelFileError
from core.history import History
from core.model import Architecture, NeuralNetwork


@dataclass(frozen=True, eq=False)
class LoadedModel:
    """What an opened model file holds, checked and in canonical form."""

    path: str
    format: str  # a person's description of the layout found, e.g. "DDP state_dict (module. prefix)"
    state_dict: dict[str, torch.Tensor]  # layers.N.weight/bias, float32, cpu, contiguous
    architecture: Architecture
    activation: str | None  # from the stored config when known
    config: dict | None  # validated through TrainConfig.from_dict (app files only)
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
    """Open a .pt/.pth file of MLP weights from this app, the book's code or elsewhere.

    Never runs code from the file and never lets a small file take much memory; anything that is
    not plain MLP weights raises ModelFileError with a reason a person understands.
    """
    shown = os.fsdecode(os.fspath(path))
    try:
        return _interpret(safe_load(shown), shown)
    except Refused as exc:
        raise ModelFileError(shown, str(exc)) from None
    except MemoryError:
        raise ModelFileError(shown, "there is not enough memory to open it") from None
    except Exception as exc:  # a hostile file must never escape as anything but a refusal
        raise ModelFileError(shown, f"it could not be read ({type(exc).__name__}: {first_line(exc)})") from exc


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
