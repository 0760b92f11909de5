"""The one frozen, JSON-able description of a training run, shared by the GUI, the CLI and model files."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any

DATASET_NAMES = ("appendix-a", "moons", "circles", "blobs", "xor", "spiral", "iris", "digits", "csv")
# Generated 2-D sets: the only ones whose `samples`, `noise` and `classes` mean something.
GENERATED_DATASETS = ("moons", "circles", "blobs", "xor", "spiral")
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu", "identity")
OPTIMIZERS = ("sgd", "adam", "adamw")
_DEVICE_RE = re.compile(r"^(auto|cpu|mps|cuda(:\d+)?)$")

# Guards against values that would only freeze the machine; far above anything a learner needs.
MAX_SAMPLES = 10_000_000
MAX_LAYER_SIZE = 65_536
MAX_LAYERS = 64


class ConfigError(ValueError):
    """A config value is wrong; the message names the key and the rule."""


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

    def validate(self) -> None:
        if self.name not in DATASET_NAMES:
            raise ConfigError(f"dataset.name: unknown data set {self.name!r}; choose one of {', '.join(DATASET_NAMES)}")
        _check_int("dataset.samples", self.samples, 4, MAX_SAMPLES)
        _check_float("dataset.noise", self.noise, 0.0, 10.0)
        _check_int("dataset.classes", self.classes, 2, 100)
        _check_float("dataset.test_fraction", self.test_fraction, 0.0, 0.9)
        _check_int("dataset.seed", self.seed, 0, 2**63 - 1)
        _check_bool("dataset.standardize", self.standardize)
        if self.name == "csv" and not self.path:
            raise ConfigError("dataset.path: the csv data set needs a path to a .csv file")
        if self.path is not None and not isinstance(self.path, str):
            raise ConfigError(f"dataset.path must be text, got {self.path!r}")
        if self.label_column is not None and not isinstance(self.label_column, str):
            raise ConfigError(f"dataset.label_column must be text, got {self.label_column!r}")


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
            raise ConfigError("dataset must be an object of data set options")
        self.dataset.validate()
        if not isinstance(self.hidden_sizes, tuple):
            raise ConfigError(f"hidden_sizes must be a list of whole numbers, got {self.hidden_sizes!r}")
        if len(self.hidden_sizes) > MAX_LAYERS:
            raise ConfigError(f"hidden_sizes: at most {MAX_LAYERS} hidden layers, got {len(self.hidden_sizes)}")
        for i, size in enumerate(self.hidden_sizes):
            _check_int(f"hidden_sizes[{i}]", size, 1, MAX_LAYER_SIZE)
        _check_choice("activation", self.activation, ACTIVATIONS)
        _check_choice("optimizer", self.optimizer, OPTIMIZERS)
        _check_float("learning_rate", self.learning_rate, 0.0, 1e3, low_open=True)
        _check_float("momentum", self.momentum, 0.0, 0.999)
        _check_float("weight_decay", self.weight_decay, 0.0, 1.0)
        _check_int("batch_size", self.batch_size, 1, MAX_SAMPLES)
        _check_bool("shuffle", self.shuffle)
        _check_bool("drop_last", self.drop_last)
        _check_int("num_workers", self.num_workers, 0, 64)
        _check_int("epochs", self.epochs, 1, 1_000_000)
        _check_int("seed", self.seed, 0, 2**63 - 1)
        if not isinstance(self.device, str) or not _DEVICE_RE.match(self.device):
            raise ConfigError(f"device: unknown device {self.device!r}; use auto, cpu, cuda, cuda:N or mps")
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
        _reject_unknown(data, cls, "")
        kwargs = dict(data)
        if "dataset" in kwargs:
            ds = kwargs["dataset"]
            if not isinstance(ds, dict):
                raise ConfigError('dataset must be an object such as {"name": "moons"}')
            _reject_unknown(ds, DatasetConfig, "dataset.")
            kwargs["dataset"] = DatasetConfig(**ds)
        if "hidden_sizes" in kwargs and isinstance(kwargs["hidden_sizes"], list):
            kwargs["hidden_sizes"] = tuple(kwargs["hidden_sizes"])
        return cls(**kwargs).validate()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_json(cls, text: str) -> "TrainConfig":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"the config is not valid JSON: {exc.msg} (line {exc.lineno})") from None
        return cls.from_dict(data)

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
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. --set learning_rate=0.1")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        parts = key.split(".")
        target = data
        for part in parts[:-1]:
            if part not in target or not isinstance(target[part], dict):
                raise ConfigError(f"--set {key}: unknown key {key!r}")
            target = target[part]
        if parts[-1] not in target:
            raise ConfigError(f"--set {key}: unknown key {key!r}")
        target[parts[-1]] = value
    return TrainConfig.from_dict(data)


# --- checks ---------------------------------------------------------------------------------


def _reject_unknown(data: dict, cls: type, prefix: str) -> None:
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(f"{prefix}{key}: unknown key; known keys are {', '.join(sorted(known))}")


def _check_int(name: str, value: Any, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, got {value!r}")
    if not low <= value <= high:
        raise ConfigError(f"{name} must be between {low} and {high}, got {value}")


def _check_float(name: str, value: Any, low: float, high: float, low_open: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value}")
    if (value <= low if low_open else value < low) or value > high:
        rule = f"greater than {low}" if low_open else f"at least {low}"
        raise ConfigError(f"{name} must be {rule} and at most {high}, got {value}")


def _check_bool(name: str, value: Any) -> None:
    if not isinstance(value, bool):
        raise ConfigError(f"{name} must be true or false, got {value!r}")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name}: unknown value {value!r}; choose one of {', '.join(choices)}")


def batches_per_epoch(n: int, batch_size: int, drop_last: bool) -> int:
    """Batches in an epoch of n samples: what DataLoader gives with this batch_size and drop_last."""
    return n // batch_size if drop_last else math.ceil(n / batch_size)
