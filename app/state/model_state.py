"""The window's model, without Qt: a trainer bound to data or weights from a file, its path, and whether it is saved.

The slow parts (reading and vetting a file, making the data, building and evaluating the model,
writing a file) are plain functions that take a `cancel` event and run on a worker thread
(app/tasks.py); `ModelState` only records their outcomes, in the GUI thread.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from app.state.evented import Event
from app.state.model_outputs import ModelViews, model_views
from core.config import ConfigError, TrainConfig
from core.errors import FIXABLE_ERRORS, Cancelled, DeviceError
from core.history import History

if TYPE_CHECKING:  # torch and what needs it are imported where used: the window is built before torch loads
    from core.data import DataSplit
    from core.model import Architecture
    from core.training import Trainer

# What a person can fix (settings, data, device, file): shown as a reason, not as a crash.
USER_ERRORS = FIXABLE_ERRORS  # core.errors' one list


@dataclass(frozen=True, eq=False)
class FileWeights:
    """Weights opened from a file: predictable at once, evaluable and continuable once bound to data that fits."""

    path: str
    format: str  # a person's description of the file's layout
    state_dict: dict
    architecture: Architecture
    activation: str
    optimizer_state: Any
    history: History
    standardizer: dict | None
    class_names: tuple[str, ...] | None
    feature_names: tuple[str, ...] | None
    config: TrainConfig  # the settings it came with, or the form's with its layer sizes
    from_app: bool  # this app's own file (settings and curves), not a bare state_dict

    def model(self):
        net = self.architecture.build(self.activation)
        net.load_state_dict(self.state_dict)
        return net


def fits_data(arch: Architecture, data: DataSplit) -> str | None:
    """None when the weights fit the data's shape, else a sentence saying what does not fit."""
    if arch.inputs == data.num_features and arch.outputs == data.num_classes:
        return None
    return (
        f"the model takes {arch.inputs} input(s) and gives {arch.outputs} output(s), but the {data.name} data has "
        f"{data.num_features} feature(s) and {data.num_classes} class(es): choose a data set with {arch.inputs} "
        f"features and {arch.outputs} classes to evaluate or train it"
    )


def same_model_shape(a: TrainConfig, b: TrainConfig) -> bool:
    """Whether a model trained under `a` can go on training under `b` (same data and layers)."""
    return a.dataset == b.dataset and tuple(a.hidden_sizes) == tuple(b.hidden_sizes) and a.activation == b.activation


@dataclass(frozen=True, eq=False)
class Bound:
    """File weights bound to a config's data (or why not), with the views of the bound model."""

    cfg: TrainConfig
    trainer: Trainer | None
    reason: str | None
    views: ModelViews | None


@dataclass(frozen=True, eq=False)
class Opened:
    """What opening a file gave: its weights, the settings to show, and the model bound to their data if it fits."""

    weights: FileWeights
    bound: Bound
    notes: tuple[str, ...]


def bind(weights: FileWeights, cfg: TrainConfig, cancel: threading.Event | None = None,
         data: DataSplit | None = None) -> Bound:
    """A trainer holding the file's weights on cfg's data (built once), or the reason it does not fit."""
    from app.run.warmup import prepare_torch
    from core.data import load_dataset
    from core.training import Trainer

    prepare_torch()  # an optimizer's first construction imports torch._dynamo: with the collector off
    cfg = cfg.with_changes(hidden_sizes=tuple(weights.architecture.hidden_sizes), activation=weights.activation)
    try:
        if data is None:
            data = load_dataset(cfg.dataset, cancel)
    except USER_ERRORS as exc:
        return Bound(cfg, None, str(exc), None)
    reason = fits_data(weights.architecture, data)
    if reason is not None:
        return Bound(cfg, None, reason, None)
    _check(cancel)
    history = History(weights.history.batch_loss, weights.history.epochs)  # training appends to its own copy
    try:
        trainer = Trainer(cfg, threads=1, data=data, initial_state=weights.state_dict,
                          optimizer_state=weights.optimizer_state, history=history)
    except Cancelled:
        raise
    except Exception as exc:  # noqa: BLE001 - weights that will not load stay unbound, the app goes on
        return Bound(cfg, None, str(exc) or type(exc).__name__, None)
    _check(cancel)
    return Bound(cfg, trainer, None, model_views(trainer, cancel))


def open_model(path: str, form_cfg: TrainConfig, cancel: threading.Event | None = None,
               data: DataSplit | None = None) -> Opened:
    """Read, vet and bind a model file (a worker's job). Raises ModelFileError when the file is refused.

    The file's own settings are used as they are (an app file), else the form's with the file's layer
    sizes; `data` is the form's data already made, used when the settings name the same data set."""
    from core.checkpoint import load_model_file

    loaded = load_model_file(path)
    _check(cancel)
    notes = list(loaded.warnings)
    cfg = None
    if loaded.config:
        try:
            cfg = TrainConfig.from_dict(dict(loaded.config))
        except (ConfigError, TypeError) as exc:
            notes.append(f"its settings were not usable ({exc}), so the current ones are kept")
    cfg = cfg or form_cfg
    arch = loaded.architecture
    activation = loaded.activation or cfg.activation
    if tuple(cfg.hidden_sizes) != tuple(arch.hidden_sizes) or cfg.activation != activation:
        cfg = cfg.with_changes(hidden_sizes=tuple(arch.hidden_sizes), activation=activation)
    history = loaded.history or History()
    weights = FileWeights(
        path=path, format=loaded.format, state_dict=loaded.state_dict, architecture=arch, activation=activation,
        optimizer_state=loaded.optimizer_state, history=history, standardizer=loaded.standardizer,
        class_names=tuple(loaded.class_names) if loaded.class_names else None,
        feature_names=tuple(loaded.feature_names) if loaded.feature_names else None,
        config=cfg, from_app=bool(loaded.config),
    )
    bind_cfg = cfg
    from core.devices import resolve_device

    try:
        resolve_device(cfg.device)
    except DeviceError as exc:
        notes.append(f"{exc}; it is evaluated on the cpu")
        bind_cfg = cfg.with_changes(device="cpu")
    same_data = data is not None and form_cfg.dataset == bind_cfg.dataset
    return Opened(weights, bind(weights, bind_cfg, cancel, data if same_data else None), tuple(notes))


def save_fields(trainer: Trainer | None, weights: FileWeights | None) -> dict:
    """The keyword arguments of core.checkpoint.save_model_file for the current model (a worker's job)."""
    from core.checkpoint import trainer_fields

    if trainer is not None:
        return trainer_fields(trainer)
    w = weights
    return dict(
        model_state=w.state_dict, config=w.config, history=w.history, optimizer_state=w.optimizer_state,
        standardizer=w.standardizer, class_names=list(w.class_names) if w.class_names else None,
        feature_names=list(w.feature_names) if w.feature_names else None,
    )


class ModelState:
    """The current model and its file: a trainer bound to data, and/or weights opened from a file.

    `trainer` is the model on its data (trained here, or file weights bound to data that fits);
    `weights` are file weights not trained since they were opened (kept so that they can be bound
    to other data). `views` are what the window shows of the bound model.

    Every change is announced: `changed(what)` with what happened ("opened", "bound", "trained",
    "saved", "dropped", "path", "views"), after the state is consistent. The window's controls, title
    and views follow from it, so none is left showing a model that is gone.
    """

    def __init__(self) -> None:
        self.trainer: Trainer | None = None
        self.weights: FileWeights | None = None
        self.views: ModelViews | None = None
        self.path: str | None = None
        self._dirty = False  # trained since it was last saved or opened
        self._unfit: set = set()  # data sets (DatasetConfig) the file weights were tried on and do not fit
        self.changed = Event()

    @property
    def dirty(self) -> bool:
        return self._dirty

    def mark_unsaved(self) -> None:
        """The model was trained (or made) here and has no file yet."""
        self._dirty = True
        self.changed.emit("trained")

    def has_model(self) -> bool:
        return self.trainer is not None or self.weights is not None

    def is_bound_to(self, cfg: TrainConfig) -> bool:
        """The model is bound to the data `cfg` names (its views show that data)."""
        return self.trainer is not None and self.trainer.cfg.dataset == cfg.dataset

    def mode_for(self, cfg: TrainConfig) -> str:
        """What Train does under `cfg`: 'continue' (the bound model goes on), 'from-file' (file weights
        start a run on cfg's data) or 'new' (a fresh model from the seed)."""
        if self.trainer is not None and same_model_shape(self.trainer.cfg, cfg):
            return "continue"
        w = self.weights
        if (w is not None and tuple(w.architecture.hidden_sizes) == tuple(cfg.hidden_sizes) and w.activation == cfg.activation
                and self.fits(cfg)):
            return "from-file"
        return "new"

    def fits(self, cfg: TrainConfig) -> bool:
        """Whether the file weights can take cfg's data: its features and classes (exact for the built-in
        data sets; a CSV once it was tried)."""
        from core.config import model_shape_bounds

        w = self.weights
        if w is None or cfg.dataset in self._unfit:
            return False
        if cfg.dataset.name == "csv":
            return True  # known once bound: bind() says, and a misfit is remembered
        inputs, outputs = model_shape_bounds(cfg.dataset)
        return (w.architecture.inputs, w.architecture.outputs) == (inputs, outputs)

    def history(self) -> History:
        if self.trainer is not None:
            return self.trainer.history
        if self.weights is not None:
            return self.weights.history
        return History()

    def inputs(self) -> int | None:
        if self.trainer is not None:
            return self.trainer.data.num_features
        return self.weights.architecture.inputs if self.weights is not None else None

    # --- outcomes -------------------------------------------------------------------------

    def opened(self, opened: Opened, path: str) -> None:
        self.weights = opened.weights
        self.trainer, self.views = opened.bound.trainer, opened.bound.views
        self.path = path
        self._dirty = False
        self._unfit = set() if opened.bound.trainer is not None else {opened.bound.cfg.dataset}
        self.changed.emit("opened")

    def bound(self, bound: Bound) -> None:
        """File weights bound to other data (or unbound from it)."""
        self.trainer, self.views = bound.trainer, bound.views
        if bound.trainer is None:
            self._unfit.add(bound.cfg.dataset)
        self.changed.emit("bound")

    def trained(self, trainer: Trainer, views: ModelViews | None, progressed: bool) -> None:
        """A run ended with `trainer`: it is the model now (file weights it started from are used up)."""
        self.trainer, self.views = trainer, views
        if progressed:
            self.weights = None
            self._dirty = True
        self.changed.emit("trained")

    def set_views(self, views: ModelViews) -> None:
        """What the window shows of the bound model, computed off the GUI thread."""
        self.views = views
        self.changed.emit("views")

    def saved(self, path: str) -> None:
        self.path = path
        self._dirty = False
        self.changed.emit("saved")

    def drop(self) -> None:
        self.trainer = self.weights = self.views = None
        self._dirty = False
        self._unfit = set()
        self.changed.emit("dropped")

    def forget_path(self) -> None:
        self.path = None
        self.changed.emit("path")

    # --- work for a worker thread -----------------------------------------------------------

    def save_job(self, path: str):
        """`fn(cancel)` that writes the app's model file for the current model (run while no training runs)."""
        trainer, weights = self.trainer, self.weights

        def job(cancel: threading.Event) -> str:
            from core.checkpoint import save_model_file

            save_model_file(path, **save_fields(trainer, weights))
            return path

        return job

    def export_job(self, path: str):
        """`fn(cancel)` that writes the bare state_dict, as the book's torch.save(model.state_dict(), path)."""
        trainer, weights = self.trainer, self.weights

        def job(cancel: threading.Event) -> str:
            from core.checkpoint import export_state_dict

            state = trainer.state_dict_cpu() if trainer is not None else weights.state_dict
            export_state_dict(path, state)
            return path

        return job

    def predict_typed(self, text: str) -> str:
        """The model's answer for one typed row of features, as a sentence (small: one row)."""
        from core.data import parse_features
        from core.predict import softmax_np

        t, w = self.trainer, self.weights
        if t is None and w is None:
            return "No model yet: train one or open a model file."
        n_in = self.inputs()
        try:
            # float64 first: a typed 1e39 is refused by name (core.predict) instead of becoming inf in a cast.
            row = np.asarray([parse_features(text, n_in)], dtype=np.float64)
            logits = _predict_rows(row, t, w)
        except (ValueError, RuntimeError) as exc:
            return f"Cannot predict: {exc}"
        probs = softmax_np(logits)[0]
        k = int(np.argmax(probs))
        names = t.data.class_names if t is not None else (w.class_names or ())
        cls = names[k] if k < len(names) else str(k)
        return f"class {cls} (p = {probs[k]:.3f}); probabilities " + ", ".join(f"{p:.3f}" for p in probs)


def _predict_rows(rows: np.ndarray, trainer: Trainer | None, weights: FileWeights | None) -> np.ndarray:
    import torch

    X = torch.as_tensor(rows)
    if trainer is not None:
        return trainer.predict(X, raw=True).numpy()
    from core.predict import predict_logits

    return predict_logits(weights.model(), X, standardizer=weights.standardizer).numpy()


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled()


def describe_opened(opened: Opened, name: str) -> str:
    """The status line after a file was opened."""
    w, arch = opened.weights, opened.weights.architecture
    kind = "this app's model file" if w.from_app else f"{w.format} weights"
    text = (f"Opened {name} ({kind}): {arch.inputs} inputs, hidden sizes {list(arch.hidden_sizes)}, "
            f"{arch.outputs} outputs, {arch.parameters:,} parameters, {len(w.history.batch_loss)} batches trained.")
    if opened.bound.reason:
        text += f" It cannot be evaluated or trained on the current data: {opened.bound.reason}."
    if opened.notes:
        text += " Note: " + "; ".join(opened.notes) + "."
    return text
