"""The one frozen, JSON-able description of a training run, shared by the GUI, the CLI and model files.

`SETTINGS` (core/settings.py, re-exported here) is the one table of its fields: kind, range, step,
precision, label and help. `validate()` checks by it, and the settings form builds its controls from it,
so a rule lives in one place. JSON is read bounded: a config file's size, its nesting and its numbers'
digits, each refused with a message naming the key.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field, fields
from typing import Any

from core.config_json import NotJsonError, check_depth, loads
from core.datasets import DATASET_SPECS, dataset_spec
from core.errors import PathError
from core.paths import open_read, shown
from core.settings import (  # noqa: F401 (re-exported: the app and the checkpoints import them from here)
    ACTIVATIONS,
    CLASSES_DATASETS,
    DATASET_NAMES,
    DEVICE_PATTERN,
    GENERATED_DATASETS,
    MAX_LAYER_SIZE,
    MAX_LAYERS,
    MAX_SAMPLES,
    MAX_SEED,
    OPTIMIZERS,
    SETTINGS,
    SETTINGS_BY_KEY,
    ConfigError,
    LongNumber,
    Setting,
    format_number,
    shown_key,
    shown_value,
)

# A config is a few hundred bytes (a model file's too); a megabyte is room for any hand-written one,
# and reading no more keeps a 50 MB "config" from being parsed and echoed.
MAX_CONFIG_BYTES = 2**20

DATASET_DESCRIPTIONS = {spec.name: spec.description for spec in DATASET_SPECS}


# Starting settings per data set (as TensorFlow Playground has), from the registry (core.datasets).
PRESET_KEYS = ("optimizer", "learning_rate", "batch_size", "epochs")
DATASET_PRESETS: dict[str, dict[str, Any]] = {spec.name: dict(spec.preset) for spec in DATASET_SPECS if spec.preset}


def preset_updates(current: dict[str, Any], old: str, new: str) -> dict[str, Any]:
    """The settings to change when the data set goes from `old` to `new`: each preset setting still at
    `old`'s starting value takes `new`'s; one the user changed (or either set without a preset) stays."""
    before, after = DATASET_PRESETS.get(old), DATASET_PRESETS.get(new)
    if before is None or after is None:
        return {}
    return {key: after[key] for key in PRESET_KEYS if key in current and _same(current[key], before[key])}


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def model_shape_bounds(ds: DatasetConfig) -> tuple[int, int]:
    """Inputs and outputs of a model for this data set: exact for the built-in sets, a lower bound (2, 2) for csv."""
    return dataset_spec(ds.name).shape_bounds(ds)


@dataclass(frozen=True)
class DatasetConfig:
    """Which data to train on and how to make or read it."""

    name: str = "appendix-a"
    samples: int = 400  # generated sets only: points in train + test
    noise: float = 0.1  # generated sets only: std of the Gaussian jitter
    classes: int = 3  # blobs and spiral: how many classes
    test_fraction: float = 0.2  # share held out for the test split (not appendix-a: the book fixes it)
    seed: int = 0  # data's own seed, so the split stays put while the model's seed changes
    path: str | None = None  # csv only
    label_column: str | None = None  # csv only: the label's column name; None = the last column
    standardize: bool = False  # z-score features with train-split statistics

    def __post_init__(self) -> None:
        # An empty path or label column means none (what an empty field in the form says), so there is
        # one way to write it and a config read back from the form equals the one put in.
        for name in ("path", "label_column"):
            if getattr(self, name) == "":
                object.__setattr__(self, name, None)

    def validate(self) -> None:
        """Raise ConfigError naming the first bad option (table order)."""
        for setting in SETTINGS:
            if setting.key.startswith("dataset."):
                setting.check(getattr(self, setting.name))
        if self.name == "csv" and not self.path:
            raise ConfigError("dataset.path: the csv data set needs a path to a .csv file", "dataset.path")


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a run; the defaults are Appendix A's run."""

    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    hidden_sizes: tuple[int, ...] = (30, 20)  # the book's NeuralNetwork: 30 then 20 units
    activation: str = "relu"
    optimizer: str = "sgd"
    learning_rate: float = 0.5
    momentum: float = 0.0  # sgd only
    weight_decay: float = 0.0
    batch_size: int = 2
    shuffle: bool = True  # reshuffle every epoch, as DataLoader(shuffle=True)
    drop_last: bool = True  # drop the incomplete last batch of an epoch
    num_workers: int = 0  # >0 loads batches through a real DataLoader with worker processes
    epochs: int = 3
    seed: int = 123  # torch.manual_seed(seed) right before the model is built, as in the book
    device: str = "cpu"

    def __post_init__(self) -> None:
        # Accept lists (JSON) but store a tuple so the config stays hashable and frozen.
        if isinstance(self.hidden_sizes, list):
            object.__setattr__(self, "hidden_sizes", tuple(self.hidden_sizes))

    def validate(self) -> "TrainConfig":
        """Raise ConfigError naming the first bad field; return self so calls can chain."""
        if not isinstance(self.dataset, DatasetConfig):
            raise ConfigError("dataset must be an object of data set options", "dataset")
        self.dataset.validate()
        for setting in SETTINGS:
            if "." not in setting.key:
                setting.check(getattr(self, setting.key))
        return self

    # --- JSON -----------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden_sizes"] = list(self.hidden_sizes)
        return d

    @classmethod
    def from_dict(cls, data: Any) -> "TrainConfig":
        """Build and validate a config from a JSON object; unknown keys are errors."""
        if not isinstance(data, dict):
            raise ConfigError("a config must be a JSON object of settings")
        check_depth(data)
        _reject_unknown(data, cls, "")
        kwargs = dict(data)
        if "dataset" in kwargs:
            ds = kwargs["dataset"]
            if not isinstance(ds, dict):
                raise ConfigError('dataset must be an object such as {"name": "moons"}', "dataset")
            _reject_unknown(ds, DatasetConfig, "dataset.")
            kwargs["dataset"] = DatasetConfig(**ds)
        if "hidden_sizes" in kwargs and isinstance(kwargs["hidden_sizes"], list):
            kwargs["hidden_sizes"] = tuple(kwargs["hidden_sizes"])
        return cls(**kwargs).validate()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        return cls.from_dict(loads(text, "the config"))

    def with_changes(self, **changes: Any) -> "TrainConfig":
        """A copy with top-level fields replaced (`dataset=` takes a dict of dataset changes too)."""
        ds = changes.pop("dataset", None)
        if isinstance(ds, dict):
            changes["dataset"] = dataclasses.replace(self.dataset, **ds)
        elif ds is not None:
            changes["dataset"] = ds
        return dataclasses.replace(self, **changes)


def apply_overrides(cfg: TrainConfig, assignments: list[str]) -> TrainConfig:
    """Apply CLI `KEY=VALUE` assignments (dotted keys; VALUE read as JSON where it parses)."""
    data = cfg.to_dict()
    for item in assignments:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ConfigError(f"--set {shown_value(item)}: expected KEY=VALUE, e.g. --set learning_rate=0.1")
        try:
            value: Any = loads(raw, f"--set {shown_key(key)}", key)
        except NotJsonError:
            value = raw
        parts = key.split(".")
        target = data
        for part in parts[:-1]:
            if part not in target or not isinstance(target[part], dict):
                raise ConfigError(f"--set {shown_key(key)}: unknown key {shown_value(key)}", key)
            target = target[part]
        if parts[-1] not in target:
            raise ConfigError(f"--set {shown_key(key)}: unknown key {shown_value(key)}", key)
        target[parts[-1]] = value
    return TrainConfig.from_dict(data)


# --- checks ---------------------------------------------------------------------------------


def salvage_config(data: Any) -> tuple[TrainConfig, list[str]]:
    """A config from a saved, possibly damaged or hand-edited JSON object: every field that is valid
    is kept, every other one (wrong type, out of range, unknown) takes the book's default. Returns the
    config and the keys that were dropped, so the caller can say so once."""
    if not isinstance(data, dict):
        return TrainConfig(), ["all settings (they are not a JSON object)"]
    kept = TrainConfig().to_dict()
    dropped: list[str] = []
    for key, value in data.items():
        if key == "dataset" and isinstance(value, dict):
            for sub, sub_value in value.items():
                _try_setting(kept, ("dataset", sub), sub_value, dropped)
        else:
            _try_setting(kept, (key,), value, dropped)
    for _ in range(len(SETTINGS)):  # rules across fields (a csv needs a path): drop what they name
        try:
            return TrainConfig.from_dict(kept), dropped
        except (ConfigError, TypeError) as exc:
            key = getattr(exc, "key", None) or ""
            defaults = TrainConfig().to_dict()
            if key.startswith("dataset."):
                # The data set's own options together (a csv without its path): the book's data.
                kept["dataset"], key = defaults["dataset"], "dataset"
            elif key in kept:
                kept[key] = defaults[key]
            else:
                break
            dropped.append(key)
    return TrainConfig(), ["all settings"]


def _try_setting(kept: dict, path: tuple[str, ...], value: Any, dropped: list[str]) -> None:
    trial = json.loads(json.dumps(kept))
    target = trial
    for part in path[:-1]:
        target = target[part]
    if path[-1] not in target:
        dropped.append(".".join(path))
        return
    target[path[-1]] = value
    try:
        TrainConfig.from_dict(trial)
    except (ConfigError, TypeError, ValueError) as exc:
        if getattr(exc, "key", None) != "dataset.path" or path == ("dataset", "path"):
            dropped.append(".".join(path))
            return
        # else a rule across fields (csv needs its path, which may come later): judged at the end
    kept.clear()
    kept.update(trial)


def _reject_unknown(data: dict, cls: type, prefix: str) -> None:
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{shown_key(prefix + str(key))}: unknown key; known keys are {', '.join(sorted(known))}", f"{prefix}{key}")


# --- JSON, bounded -------------------------------------------------------------------------------


def read_config_file(path: Any) -> TrainConfig:
    """The config in a RUN.json file, through core.paths (a FIFO or a device is refused, not waited on) and
    at most MAX_CONFIG_BYTES long; every problem is a ConfigError naming the file."""
    where = shown(path)
    try:
        f, size = open_read(path, action="read config")
    except PathError as exc:
        raise ConfigError(str(exc)) from None
    with f:
        data = f.read(MAX_CONFIG_BYTES + 1) if size <= MAX_CONFIG_BYTES else b""
    if size > MAX_CONFIG_BYTES or len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(
            f"cannot read config {where}: it is {max(size, len(data)) / 2**20:.1f} MB; a config is at most "
            f"{MAX_CONFIG_BYTES // 2**20} MB of settings"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"cannot read config {where}: it is not UTF-8 text") from None
    try:
        return TrainConfig.from_json(text)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}", exc.key) from None


def batches_per_epoch(n: int, batch_size: int, drop_last: bool) -> int:
    """Batches in an epoch of n samples: what DataLoader gives with this batch_size and drop_last."""
    return n // batch_size if drop_last else math.ceil(n / batch_size)
